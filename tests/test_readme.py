"""The README's Python example runs as written (with fewer epochs)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_existing_project_example_runs(capsys):
    section = README.read_text().split("### From an existing RecBole project", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert '"epochs": 20' in code
    exec(compile(code.replace('"epochs": 20', '"epochs": 1, "show_progress": False'), "README", "exec"), {})
    assert "recall@20" in capsys.readouterr().out
