"""A plain (non-editable) install carries every subpackage, the properties and the demo data."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_every_package_properties_and_demo_data(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    for package in ("audit", "data", "model", "unlearn"):
        assert f"recbole_unlearn/{package}/__init__.py" in names
    assert "recbole_unlearn/properties/overall.yaml" in names
    assert "recbole_unlearn/properties/model/FREEDOM.yaml" in names
    assert "recbole_unlearn/package_data/ml-100k/all-MiniLM-L6-v2.npy" in names
