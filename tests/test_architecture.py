"""The shape of the package, checked from its source: no import circle anywhere in ``soundtime/`` (imports made
only for type checking count too), federation never imports search, only the application factory imports
the federation node (everything else uses ``soundtime.p2p.face``), and no part of federation or distributed
search is given the node, a face or a bundle of ports: each names the ports it uses."""

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
            # ``from package import submodule`` imports the submodule and runs the package's ``__init__`` first
            names = [base, *(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)]
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
    assert _trivial(["p", "p.a", "p.b"])
    assert not _trivial(["p.a", "p.b", "q"])


def _trivial(cycle: list[str]) -> bool:
    """A package whose ``__init__`` imports its own modules, which import from it: no circle for Python."""
    package = min(cycle, key=len)
    return all(member == package or member.startswith(f"{package}.") for member in cycle)


def test_no_import_circle_in_the_package() -> None:
    assert [cycle for cycle in _cycles(GRAPH) if not _trivial(cycle)] == []


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


#: Numbers at module level in federation and search that are not policy, and why. Timeouts, intervals, limits,
#: rates and concurrency belong in ``soundtime.p2p.policy`` (Timings, Limits), where tests and operators see them.
NOT_POLICY = {
    "soundtime.p2p.catalog.CHUNK": "work granularity (announcements checked between two turns of the event loop)",
    "soundtime.p2p.catalog.INSERT_ROWS": "rows per statement (bounds one statement's encoding on the event loop)",
    "soundtime.p2p.discovery.MAX_ADDRESSES": "what one LAN announcement may carry",
    "soundtime.p2p.discovery.MAX_PORTS": "what one LAN announcement may carry",
    "soundtime.p2p.discovery.MAX_ENDPOINTS": "what one LAN announcement may carry",
    "soundtime.p2p.discovery.MAX_PEERS": "the LAN report limiter's memory",
    "soundtime.p2p.downloads.MAX_BLOB_SIZE": "a blob transfer's u32 length prefix (spec §4)",
    "soundtime.p2p.health.states.DEREFERENCE_AFTER": "SoundTime's three strikes",
    "soundtime.p2p.health.states.MAX_FAILURES": "a smallint column",
    "soundtime.p2p.health.states.MAX_ERROR_LENGTH": "a column's length",
    "soundtime.p2p.identity.SECRET_KEY_SIZE": "an Ed25519 secret key",
    "soundtime.p2p.messenger.ACK_REPLY_LIMIT": "what an acknowledgement may carry",
    "soundtime.p2p.messenger.CHUNK": "read granularity",
    "soundtime.p2p.serving.CHUNK": "write granularity",
    "soundtime.p2p.plans.schedule.MAX_DOUBLINGS": "an overflow guard of the back-off",
    "soundtime.p2p.plans.schedule.JITTER": "the back-off's shape (±25 %)",
    "soundtime.p2p.plans.sources.OTHER_FORMAT_SCORE": "SoundTime's best-copy score",
    "soundtime.p2p.plans.sources.ONLINE_BONUS": "SoundTime's best-copy score",
    "soundtime.p2p.plans.sources.MAX_COUNTED_KBPS": "SoundTime's best-copy score",
    "soundtime.p2p.plans.sources.MAX_COUNTED_HZ": "SoundTime's best-copy score",
    "soundtime.p2p.ports.MAX_TRACK_COUNT": "a bigint column",
    "soundtime.p2p.service.MAX_IMPORTED_BLOCKS": "an HTTP request's size (admin API)",
    "soundtime.p2p.transport.memory.WINDOW": "the in-memory network's flow control",
    "soundtime.p2p.transport.memory.PORT": "the in-memory network's addresses",
    "soundtime.p2p.transport.streams._U32_MAX": "a u32",
    "soundtime.p2p.transport.streams._QUICK_TIMEOUT": "best-effort control calls of the iroh bindings",
    "soundtime.p2p.validation.MAX_NAME_CHARS": "a column's length",
    "soundtime.p2p.validation.MAX_GENRE_CHARS": "a column's length",
    "soundtime.p2p.validation.MAX_FILE_SIZE": "the largest file we believe in",
    "soundtime.p2p.wire.MAX_FRAME_SIZE": "the wire (spec §2)",
    "soundtime.p2p.wire.PREFIX_SIZE": "the wire (spec §2)",
    "soundtime.p2p.wire._U64_MAX": "a u64",
    "soundtime.p2p.wire._CACHE_LIMIT": "a codec cache",
    "soundtime.search.bloom.MIN_CAPACITY": "SoundTime's filter parameters (spec §5)",
    "soundtime.search.bloom.FALSE_POSITIVE_RATE": "SoundTime's filter parameters (spec §5)",
    "soundtime.search.bloom.MAX_HASHES": "what a peer's filter may ask for",
    "soundtime.search.bloom.MAX_BITMAP_BYTES": "what a peer's filter may carry",
    "soundtime.search.bloom._U64": "a u64",
    "soundtime.search.bloom._MODULUS": "the filter's hash (spec §5)",
    "soundtime.search.routing.BATCH": "rows per database read",
    "soundtime.search.repository.CANDIDATES": "matches local search ranks per kind (a bound on query cost)",
}


def _number(node: ast.expr) -> bool:
    """Whether ``node`` is a number written with literals and arithmetic only."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _number(node.operand)
    if isinstance(node, ast.BinOp):
        return _number(node.left) and _number(node.right)
    return False


def _numeric_constants(prefixes: tuple[str, ...]) -> set[str]:
    found = set()
    for module, path in MODULES.items():
        if not module.startswith(prefixes):
            continue
        for statement in ast.parse(path.read_text(), str(path)).body:
            if isinstance(statement, ast.Assign):
                targets, value = statement.targets, statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets, value = [statement.target], statement.value
            else:
                continue
            for target in targets:
                if isinstance(target, ast.Name) and target.id.lstrip("_").isupper() and _number(value):
                    found.add(f"{module}.{target.id}")
    return found


def test_federation_policy_lives_in_the_policy_objects() -> None:
    found = _numeric_constants(("soundtime.p2p.", "soundtime.search."))
    assert "soundtime.p2p.catalog.CHUNK" in found  # the walk sees annotated and plain assignments
    unexplained = sorted(found - set(NOT_POLICY))
    assert unexplained == [], "put policy in soundtime.p2p.policy (Timings/Limits), or say here why it is not"
    assert sorted(set(NOT_POLICY) - found) == []  # the list stays true


#: Whole objects no federation part may be given: it gets its ports (see ``soundtime.p2p.ports``) instead.
WHOLE = {"P2PNode", "Federation", "FederationHost", "Ports"}
#: The one constructor that takes a face: the plug that builds distributed search's parts on the node.
PLUGS = {("soundtime.search.peers", "PeerSearch")}


def _constructor_annotations(path: Path) -> Iterator[tuple[str, set[str]]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                arguments = [*item.args.posonlyargs, *item.args.args, *item.args.kwonlyargs]
                names = {
                    n.id if isinstance(n, ast.Name) else n.attr
                    for a in arguments
                    if a.annotation is not None
                    for n in ast.walk(a.annotation)
                    if isinstance(n, ast.Name | ast.Attribute)
                }
                yield node.name, names


def test_federation_parts_get_their_ports_not_the_node() -> None:
    given_whole = [
        (module, cls, sorted(names & WHOLE))
        for module, path in MODULES.items()
        if module.startswith(("soundtime.p2p.", "soundtime.search."))
        for cls, names in _constructor_annotations(path)
        if names & WHOLE and (module, cls) not in PLUGS
    ]
    assert given_whole == []
    plugs = [(m, c) for m, p in MODULES.items() for c, names in _constructor_annotations(p) if names & WHOLE]
    assert sorted(plugs) == sorted(PLUGS)  # the check sees the plug, so it would see another
