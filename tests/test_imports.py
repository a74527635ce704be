"""No import cycle in src/thresher: the layers import downward only.

The graph has one node per module and an edge for every ``import`` of another thresher module,
read from the source with ``ast``: the imports at module level (which Python runs while importing
the module: a cycle among them can fail with a half-initialised module, depending on which module
is imported first) and the imports inside functions (which run later, so they cannot fail that
way, but a cycle through them is still two layers that each depend on the other, e.g. the
report reading the manifest through the runner that writes the report). Both kinds count.
Not counted: the implicit import of a module's parent packages (every module would then depend
on ``thresher/__init__``, the public API at the top of every layer) and imports under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "thresher"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, level: str = "top"):
    """``(node, "top" | "function")`` for every import, skipping ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, level
        inner = "function" if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else level
        yield from _imports(child, inner)


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, known: set[str]) -> list[str]:
    """The thresher modules an import statement loads (``from pkg import sub`` loads ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    found = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
    if mod in known and len(found) < len(node.names):  # names imported from the module itself
        found.append(mod)
    return found


def import_graph(kinds: tuple[str, ...] = ("top", "function")) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` over thresher's modules."""
    mods = modules()
    known = set(mods)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, kind in _imports(tree):
            if kind in kinds:
                for target in _targets(node, name, path.name == "__init__.py", known):
                    if target != name:
                        graph[name].setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    inside = set(component)
    edges = [f"  {m}:{line} imports {t}" for m in component for t, line in sorted(graph[m].items()) if t in inside]
    return "cycle among " + ", ".join(component) + "\n" + "\n".join(edges)


def test_graph_sees_relative_top_level_and_function_imports():
    graph = import_graph()
    assert "thresher.manifest" in graph["thresher.report.lineage"]  # from ..manifest import
    assert "thresher.report.card" in graph["thresher.runner"]  # inside write_documents
    assert "thresher.report.card" not in import_graph(("top",))["thresher.runner"]
    assert "thresher.ops.embed.vectors" in graph["thresher.ops.model.inputs"]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "\n\n".join(_describe(c, graph) for c in found)
