"""The shape of the code: every module compiles without a warning and its docstrings hold no control character but
newlines (a ``\\t`` or ``\\x0c`` in a docstring is a TeX escape written without its second backslash); every function
of the package is at most ``MAX_LINES`` lines long and takes at most ``MAX_PARAMS`` parameters."""

import ast
import pathlib
import unicodedata
import warnings

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "recbole_unlearn"
MAX_LINES = 50  # of a def, from the `def` line (decorators excluded) to its last line
MAX_PARAMS = 6  # self / cls not counted; *args and **kwargs count one each
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def python_files(*folders):
    """Every ``.py`` file under ``folders`` that exist, sorted."""
    return sorted(path for folder in folders if folder.is_dir() for path in folder.rglob("*.py"))


def where(path):
    """``path`` relative to the repository root, when it is inside it."""
    path = pathlib.Path(path)
    return path.relative_to(ROOT) if path.is_absolute() and path.is_relative_to(ROOT) else path


def parse(source, path):
    """The syntax tree of ``source``, its warnings left to :func:`compile_problems`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, filename=str(path))


def compile_problems(source, path):
    """``path:line message`` of the warning (as an error) or syntax error compiling ``source`` gives, if any."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            compile(source, str(path), "exec")
        except (SyntaxError, Warning) as error:
            return [f"{where(path)}:{getattr(error, 'lineno', '?')} {error}"]
    return []


def docstring_problems(source, path):
    """``path:line name`` of each docstring (module, class or function) holding a control character but newline."""
    tree = parse(source, path)
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, *DEFS)))]
    problems = []
    for node in nodes:
        doc = ast.get_docstring(node, clean=False)
        bad = sorted({ch for ch in doc or "" if ch != "\n" and unicodedata.category(ch) == "Cc"})
        if bad:
            line = node.body[0].lineno
            problems.append(f"{where(path)}:{line} {getattr(node, 'name', '<module>')} docstring holds {bad}")
    return problems


def parameter_count(node):
    """Parameters of a def, a leading ``self`` / ``cls`` not counted, ``*args`` and ``**kwargs`` one each."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    return len(positional) + len(args.kwonlyargs) + (args.vararg is not None) + (args.kwarg is not None)


def shape_problems(source, path):
    """``path:line name (...)`` of each function longer than ``MAX_LINES`` or with more than ``MAX_PARAMS``."""
    defs = [n for n in ast.walk(parse(source, path)) if isinstance(n, DEFS)]
    problems = []
    for node in sorted(defs, key=lambda n: n.lineno):
        lines, params = node.end_lineno - node.lineno + 1, parameter_count(node)
        if lines > MAX_LINES or params > MAX_PARAMS:
            problems.append(f"{where(path)}:{node.lineno} {node.name} ({lines} lines, {params} parameters)")
    return problems


def problems_in(files, check):
    """What ``check`` finds in each of ``files``."""
    return [problem for path in files for problem in check(path.read_text(encoding="utf-8"), path)]


def test_modules_compile_without_warnings_and_docstrings_hold_no_control_characters():
    files = python_files(PACKAGE, ROOT / "bench", ROOT / "tests", ROOT / "scripts")
    assert files
    problems = problems_in(files, compile_problems) + problems_in(files, docstring_problems)
    heading = "modules that compile with a warning or hold a control character in a docstring:"
    assert not problems, "\n".join([heading, *problems])


def test_functions_are_short_and_take_few_parameters():
    problems = problems_in(python_files(PACKAGE), shape_problems)
    heading = f"functions longer than {MAX_LINES} lines or with more than {MAX_PARAMS} parameters:"
    assert not problems, "\n".join([heading, *problems])


def test_the_checks_catch_offenders():
    tab = 'def f():\n    """:math:`S^\\top G`."""\n'  # one backslash before "top" in the source: a tab
    assert docstring_problems(tab, "bad.py") == ["bad.py:2 f docstring holds ['\\t']"]
    assert docstring_problems(tab.replace("\\", "\\\\"), "ok.py") == []
    invalid = '"""A set :math:`\\sigma`."""\n'  # one backslash before "sigma": an invalid escape
    assert len(compile_problems(invalid, "bad.py")) == 1
    assert compile_problems(invalid.replace("\\", "\\\\"), "ok.py") == []
    long_def = "@decorator\ndef long():\n" + "    x = 1\n" * (MAX_LINES - 1)
    assert shape_problems(long_def, "m.py") == []
    assert shape_problems(long_def + "    x = 2\n", "m.py") == [f"m.py:2 long ({MAX_LINES + 1} lines, 0 parameters)"]
    wide = "class C:\n    def wide(self, a, b, c, *args, d, e, **kwargs):\n        pass\n"
    assert shape_problems(wide, "m.py") == ["m.py:2 wide (2 lines, 7 parameters)"]
    assert shape_problems(wide.replace("e, ", ""), "m.py") == []
