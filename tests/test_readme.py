"""The README's Python examples run as written (with fewer epochs), one after the other."""

import re
from pathlib import Path

from recbole_unlearn.model.serving import filtered_items

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_existing_project_examples_run(capsys):
    section = README.read_text().split("### From an existing RecBole project", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2 and '"epochs": 20' in blocks[0] and "recbole_unlearn.unlearn(" in blocks[1]
    code = "\n".join(blocks).replace('"epochs": 20', '"epochs": 1, "show_progress": False')
    code = code.replace('"examples/', f'"{ROOT}/examples/')  # the tests run in a scratch folder
    namespace = {}
    exec(compile(code, "README", "exec"), namespace)
    assert "recall@20" in capsys.readouterr().out
    model, report, dataset = namespace["model"], namespace["report"], namespace["dataset"]
    assert report["method"] == "reset" and report["request"]["type"] == "item" and report["request"]["items"] == 5
    revoked = {str(t) for t in dataset.field2id_token[dataset.iid_field][filtered_items(model)]}
    assert revoked == {"50", "100", "181", "258", "286"}

