"""The shape of the package, checked from its source: no import circle anywhere in ``soundtime/`` (imports made
only for type checking count too), federation never imports search, and only the application factory imports
the federation node (everything else uses ``soundtime.p2p.face``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "soundtime"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of the package that ``name`` (a module or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if node.module else anchor
            # ``from package import submodule`` imports the submodule; any other name comes from ``base`` itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name)
            if owner is not None and owner != module:
                yield owner


GRAPH = {module: set(_imported(module, path)) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
    return found


def test_the_graph_is_read_from_the_whole_package() -> None:
    assert len(MODULES) > 100
    assert "soundtime.p2p.node" in GRAPH["soundtime.app"]
    assert "soundtime.p2p.transport._iroh" in GRAPH["soundtime.p2p.transport.endpoint"]


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle_in_the_package() -> None:
    assert _cycles(GRAPH) == []


def test_federation_never_imports_search() -> None:
    edges = [
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        if source.startswith("soundtime.p2p")
        for target in targets
        if target.startswith("soundtime.search")
    ]
    assert edges == []


def test_only_the_application_factory_imports_the_node() -> None:
    importers = sorted(source for source, targets in GRAPH.items() if "soundtime.p2p.node" in targets)
    assert importers == ["soundtime.app"]


@pytest.mark.parametrize("module", ["soundtime.p2p.plans", "soundtime.p2p.policy", "soundtime.p2p.ports"])
def test_planners_and_ports_do_no_io(module: str) -> None:
    """Plans, policy and ports import neither the database layer nor a transport implementation."""
    reach: set[str] = set()
    todo = [m for m in MODULES if m == module or m.startswith(f"{module}.")]
    while todo:
        current = todo.pop()
        if current in reach:
            continue
        reach.add(current)
        todo.extend(GRAPH[current])
    forbidden = {"soundtime.kit.db", "soundtime.p2p.repository", "soundtime.p2p.transport.endpoint"}
    assert not reach & forbidden
