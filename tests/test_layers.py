"""The package's layers: every import, function-level ones included, points to the same layer or one below, never
up, and no set of modules imports itself round in a circle. ``audit/`` and ``unlearn/`` share a layer and never import
each other."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "recbole_unlearn"

# lowest first; a module belongs to the first entry that names it or a package above it
LAYERS = [
    ("base", ["errors", "atomic", "compat", "tables"]),
    ("data", ["data", "distributed"]),
    ("models", ["model", "scoring"]),
    ("core", ["checkpoint", "trainer", "registry", "config", "config_keys"]),
    ("judge/act", ["audit", "unlearn"]),
    ("pipeline", ["pipeline"]),
    (
        "face",
        ["quick_start", "loading", "recommend", "api", "launch", "verify", "cli", "text_features", "__main__", ""],
    ),
]
SIBLINGS_APART = {"audit", "unlearn"}  # one layer, but neither imports the other


def module_name(path: Path) -> str:
    parts = ["recbole_unlearn", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def top_part(module: str) -> str:
    """``recbole_unlearn.audit.mia`` -> ``audit``; the package root -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> int:
    for index, (_, names) in enumerate(LAYERS):
        if top_part(module) in names:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def imports_of(module: str) -> set:
    """Every module of the package that ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    return imports_in(path.read_text(), module, path.name == "__init__.py")


def imports_in(source: str, module: str, is_package=False) -> set:
    """The package's modules imported anywhere in ``source`` (the code of ``module``)."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # ``from pkg import sub`` imports the submodule when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # ``import recbole_unlearn.data.split`` reaches that module
                name = name.rpartition(".")[0]
            if name.startswith("recbole_unlearn") and name != module:
                found.add(name)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_import_points_up_a_layer_or_across_audit_and_unlearn():
    upward = []
    for module, targets in GRAPH.items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                upward.append(
                    f"{module} -> {target} ({LAYERS[layer_of(module)][0]} imports {LAYERS[layer_of(target)][0]})"
                )
            apart = {top_part(module), top_part(target)}
            if apart == SIBLINGS_APART:
                upward.append(f"{module} -> {target} (audit and unlearn are kept apart)")
    assert not upward, "\n".join(sorted(upward))


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or ``None``."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle)


def test_the_checker_sees_function_level_imports_and_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = (
        "class A:\n    def f(self):\n        from recbole_unlearn.errors import InputError\n"
        "        from . import atomic\n"
    )
    assert imports_in(source, "recbole_unlearn.config") == {"recbole_unlearn.errors", "recbole_unlearn.atomic"}
    assert imports_in("import recbole_unlearn.data.split\n", "recbole_unlearn.config") == {"recbole_unlearn.data.split"}
