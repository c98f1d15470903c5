"""A plain (non-editable) install carries every subpackage, the properties, the demo data and the licence."""

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
    # every subpackage of the source tree (pyproject.toml lists them by hand)
    for init in sorted((ROOT / "recbole_unlearn").rglob("__init__.py")):
        assert init.relative_to(ROOT).as_posix() in names, f"{init.parent.name}/ missing from pyproject.toml packages"
    for package in ("audit", "data", "model", "unlearn"):
        assert f"recbole_unlearn/{package}/__init__.py" in names
    assert "recbole_unlearn/properties/overall.yaml" in names
    assert "recbole_unlearn/properties/model/FREEDOM.yaml" in names
    assert "recbole_unlearn/properties/dataset/ml-100k.yaml" in names
    assert "recbole_unlearn/package_data/ml-100k/all-MiniLM-L6-v2.npy" in names
    assert "run_recbole_unlearn.py" in names
    dist_info = {name.split("/", 1)[0] for name in names if ".dist-info/" in name}
    assert len(dist_info) == 1
    (dist_info,) = dist_info
    # metadata 2.4 puts it under licenses/, older setuptools at the top of dist-info
    assert {f"{dist_info}/licenses/LICENSE", f"{dist_info}/LICENSE"} & names, "LICENSE is not in the wheel's dist-info"


def test_setup_py_is_a_shim_and_pyproject_holds_the_metadata():
    """``setup.py`` only calls setuptools (pyproject.toml is the one source of the metadata)."""
    assert (ROOT / "setup.py").read_text().splitlines() == ["from setuptools import setup", "setup()"]
    assert 'name = "recbole-unlearn"' in (ROOT / "pyproject.toml").read_text()
