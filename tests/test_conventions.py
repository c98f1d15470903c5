"""Conventions the code review asked for: request types compared as members of their closed set, never as bare
strings; benchmarks as modules of the ``bench`` package without ``sys.path`` edits; docs/benchmarks.md a reference."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from recbole_unlearn.data.request_type import REQUEST_TYPES, RequestType

ROOT = Path(__file__).resolve().parent.parent


def bare_type_comparisons(source) -> list:
    """Line numbers of comparisons (``==``, ``!=``, ``in``) against a request type's bare string."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        constants = [c for o in operands for c in ([o] if isinstance(o, ast.Constant) else getattr(o, "elts", []))]
        if any(isinstance(c, ast.Constant) and c.value in REQUEST_TYPES for c in constants):
            lines.append(node.lineno)
    return lines


def test_request_types_are_compared_as_members_never_as_bare_strings():
    assert bare_type_comparisons('if kind == "item" or t in ("user", "x"):\n    pass\n') == [1, 1]  # the check sees both
    assert bare_type_comparisons("if kind == RequestType.ITEM:\n    pass\n") == []
    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "recbole_unlearn").rglob("*.py"))
             for line in bare_type_comparisons(path.read_text())]
    assert not found, found
    assert RequestType("user") is RequestType.USER and f"{RequestType.ITEM}" == "item" == str(RequestType.ITEM)


def test_benchmarks_are_modules_of_the_bench_package_without_path_edits():
    scripts = sorted((ROOT / "bench").glob("bench_*.py"))
    assert scripts and (ROOT / "bench" / "__init__.py").is_file()
    assert not [p.name for p in [*scripts, ROOT / "bench" / "common.py"] if "sys.path" in p.read_text()]
    code = "; ".join(f"import bench.{p.stem}" for p in scripts)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)


def test_benchmarks_doc_is_a_reference_and_experiments_one_table():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    notebook = [p for p in ("not kept", "first run", "scratch script", "of the time") if p in text.replace(
        "What was tried and not kept:", "")]
    assert not notebook, notebook
    assert max(len(line) for line in text.splitlines()) <= 120
    tables = re.findall(r"^\| what was tried \| result \| why not kept \|$", (ROOT / "docs" / "experiments.md").read_text(),
                        re.MULTILINE)
    assert len(tables) == 1
