"""The floors of ``pipelines/`` (docs/architecture.md): no subpackage imports one that imports it back, directly or
around a circle, and no module imports one that imports it back.

Every import counts -- at module level, inside a function, under ``TYPE_CHECKING`` -- and relative imports are
resolved. A top-level module (``units.py``, ``training.py``) is a floor's member of its own.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "pipelines"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: ``{(importer, imported): {files}}``
Edges = dict[tuple[str, str], set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> Iterator[str]:
    """The dotted names ``path`` imports, anywhere in it, relative imports resolved; ``from a import b`` yields
    ``a`` and ``a.b`` (``b`` may be a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names if alias.name != "*")


def floor_of(module: str) -> str | None:
    """``pipelines.harness.rounds`` -> ``harness``; ``pipelines.units`` -> ``units``; outside -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE else None


def module_edges() -> Edges:
    modules = {module_name(path): path for path in ROOT.rglob("*.py")}
    edges: Edges = defaultdict(set)
    for name, path in modules.items():
        for target in imported_modules(path):
            if target in modules and target != name:
                edges[name, target].add(str(path.relative_to(ROOT.parent)))
    return edges


def subpackage_edges() -> Edges:
    edges: Edges = defaultdict(set)
    for (source, target), files in module_edges().items():
        a, b = floor_of(source), floor_of(target)
        if a and b and a != b:
            edges[a, b] |= files
    return edges


def cycles(edges: Edges) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's, iterative)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted({n for edge in edges for n in edge}):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def shortest_circle(component: list[str], edges: Edges) -> list[str]:
    """The fewest nodes of ``component`` that import each other round a circle: ``[a, b, a]``."""
    inside = defaultdict(list)
    for a, b in sorted(edges):
        if a in component and b in component:
            inside[a].append(b)
    best: list[str] = []
    for start in component:
        paths, seen = [[start]], {start}
        while paths and not (best and len(paths[0]) >= len(best)):
            path = paths.pop(0)
            for nxt in inside[path[-1]]:
                if nxt == start:
                    if not best or len(path) + 1 < len(best):
                        best = [*path, start]
                elif nxt not in seen:
                    seen.add(nxt)
                    paths.append([*path, nxt])
    return best


def explained(edges: Edges) -> str:
    """Each cycle: its shortest circle, then the edges inside it and the files that make them."""
    lines = []
    for component in cycles(edges):
        circle = " -> ".join(shortest_circle(component, edges))
        lines.append(f"cycle: {', '.join(component)}; shortest circle: {circle}")
        lines += [f"  {a} -> {b}: {', '.join(sorted(files))}" for (a, b), files in sorted(edges.items())
                  if a in component and b in component]
    return "\n".join(lines)


def test_every_import_counts_and_relative_ones_are_resolved(tmp_path, monkeypatch):
    """Inside a function, under ``TYPE_CHECKING``, relative from a module or from a package's ``__init__``, and
    ``from pipelines.x import module``: each is an edge; an import within a subpackage is none."""
    package = tmp_path / PACKAGE
    files = {
        "__init__.py": "",
        "units.py": "",
        "a/__init__.py": "from .x import f\n",
        "a/x.py": "from typing import TYPE_CHECKING\n\ndef f():\n    from ..b import y\n\n"
                  "if TYPE_CHECKING:\n    from pipelines.c.z import Z\n",
        "b/__init__.py": "",
        "b/y.py": "from pipelines import units\n",
        "c/__init__.py": "from . import z\n",
        "c/z.py": "import pipelines.a.x\nZ = 1\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    monkeypatch.setitem(globals(), "ROOT", package)  # what module_name and module_edges read
    edges = subpackage_edges()
    assert dict(edges) == {("a", "b"): {"pipelines/a/x.py"}, ("a", "c"): {"pipelines/a/x.py"},
                           ("b", "units"): {"pipelines/b/y.py"}, ("c", "a"): {"pipelines/c/z.py"}}
    assert cycles(edges) == [["a", "c"]]
    assert "shortest circle: a -> c -> a" in explained(edges)


def test_the_graph_is_read_from_the_package():
    assert ("harness", "epoch") in subpackage_edges()


def test_the_cycle_finder_finds_a_circle():
    circle = {("a", "b"): {"x"}, ("b", "c"): {"y"}, ("c", "a"): {"z"}, ("c", "d"): {"w"}}
    assert cycles(circle) == [["a", "b", "c"]]
    assert "c -> a: z" in explained(circle) and "c -> d" not in explained(circle)
    assert shortest_circle(["a", "b", "c"], circle | {("b", "a"): {"v"}}) == ["a", "b", "a"]
    assert cycles({("a", "b"): {"x"}, ("b", "c"): {"y"}}) == []


def test_no_subpackage_imports_one_that_imports_it_back():
    edges = subpackage_edges()
    found = cycles(edges)
    assert not found, f"subpackages of {PACKAGE}/ import each other:\n{explained(edges)}"


def test_no_module_imports_one_that_imports_it_back():
    edges = module_edges()
    found = cycles(edges)
    assert not found, f"modules of {PACKAGE}/ import each other:\n{explained(edges)}"
