"""Mutation testing of the pure modules: does the suite notice when their code is subtly wrong?

For each module, every mutation point of its AST is changed one at a time (a comparison flipped or moved by
one, an arithmetic or bitwise operator swapped, a number moved by one, a boolean or ``and``/``or`` swapped, a
``not`` dropped, a ``raise`` removed, a constant's value changed) and the module's unit tests run against it.
A mutant is *killed* when a test fails (or the run exceeds its time limit), and *survives* otherwise.

Mutants run in forked children of one process that already imported pytest, the module and its tests: the
child swaps the mutated functions' code into the live module (``__code__``) and updates changed module and
class constants, then runs the tests with ``pytest.main``. Mutants the child cannot apply (a changed class
layout, say) are counted as not applicable. Known equivalent mutants (no test can tell them apart) are listed
below with the reason and left out of the score.

    .venv/bin/python bench/mutation.py            # every mutant: ~15-25 minutes on 2 shared cores
    .venv/bin/python bench/mutation.py --quick    # at most 60 mutants per module, well under 5 minutes
    .venv/bin/python bench/mutation.py --module soundtime/streaming/ranges.py --show-survivors

Standard library only (plus pytest, which runs the tests). Prints a table, then one JSON object last.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Module file -> the tests that are meant to pin it down (fast unit tests only: no database, no network).
TARGETS: dict[str, list[str]] = {
    "soundtime/p2p/wire.py": ["tests/p2p/test_wire.py", "tests/p2p/test_wire_edges.py"],
    "soundtime/search/bloom.py": ["tests/search/test_bloom.py", "tests/search/test_bloom_edges.py"],
    "soundtime/p2p/validation.py": ["tests/p2p/test_validation.py"],
    "soundtime/streaming/ranges.py": ["tests/streaming/test_ranges.py"],
    "soundtime/streaming/plan.py": ["tests/streaming/test_plan.py"],
    "soundtime/kit/etag.py": ["tests/streaming/test_plan.py"],
    "soundtime/p2p/health/states.py": ["tests/p2p/test_health_states.py"],
}

_WIRE = "soundtime/p2p/wire.py"
_ONE_FIELD = "struct.unpack of a one-field format gives a 1-tuple: [0] and [-1] are the same element"
_DECADE = (
    "the decade-correction loops of _decimal_scale never run: float log10 already gives the exact decade of all "
    "512 binade widths (tests/p2p/test_wire_edges.py checks each), and the second loop undoes any overshoot of the "
    "first"
)
_SMALLEST_NORMALS = (
    "only 2**-126 (field 1) or 2**-125 (field 2) change sides between a regular and a narrower interval below: "
    "their shortest decimals 1.1754944e-38 and 2.3509887e-38 lie inside both (tests/p2p/test_wire_edges.py)"
)
_EXPONENT = "the exponent's sign is only written for exponents outside -6..12 (plain notation): never 0 or -1"

#: Mutants no test can kill because the program behaves the same: (module, line, mutation, why).
EQUIVALENT: list[tuple[str, int, str, str]] = [
    (_WIRE, 77, "0 -> -1", _ONE_FIELD),
    (_WIRE, 527, "0 -> -1", _ONE_FIELD),
    (_WIRE, 97, "LtE -> Lt", _DECADE),
    (_WIRE, 97, "Add -> Sub", _DECADE),
    (_WIRE, 97, "10 -> 11", _DECADE),
    (_WIRE, 97, "10 -> 9", _DECADE),
    (_WIRE, 97, "1 -> 2", _DECADE),
    (_WIRE, 97, "1 -> 0", _DECADE),
    (_WIRE, 98, "1 -> 2", _DECADE),
    (_WIRE, 98, "1 -> 0", _DECADE),
    (_WIRE, 100, "1 -> 2", _DECADE),
    (_WIRE, 100, "1 -> 0", _DECADE),
    (_WIRE, 111, "Gt -> GtE", _SMALLEST_NORMALS),
    (_WIRE, 111, "1 -> 0", _SMALLEST_NORMALS),
    (_WIRE, 111, "1 -> 2", _SMALLEST_NORMALS),
    (
        _WIRE,
        112,
        "Add -> Sub",
        "the cache slot 2*field - irregular is still one-to-one (irregular only when field >= 2)",
    ),
    (_WIRE, 155, "GtE -> Gt", _EXPONENT),
    (_WIRE, 155, "0 -> 1", _EXPONENT),
    (_WIRE, 155, "0 -> -1", _EXPONENT),
    (_WIRE, 167, "GtE -> Gt", "at q == 0 both branches give float(k) exactly"),
    (_WIRE, 167, "0 -> 1", "at q == 0 both branches give float(k) exactly"),
    (
        "soundtime/search/bloom.py",
        51,
        "1 -> 0",
        "bits >= 8 and capacity >= 1 make the ceiling at least 1: max(1, n) == max(0, n)",
    ),
    (_WIRE, 518, "0 -> -1", "a start of -1: re clamps a negative pos to 0, and max(length, -1) == max(length, 0)"),
    (_WIRE, 538, "0 -> -1", "the body length is never negative here: frame_length has checked a 4-byte prefix"),
]


@dataclass(frozen=True)
class Mutant:
    """One change to one module: where, what, and the mutated module's source."""

    module: str
    line: int
    description: str
    source: str


@dataclass
class Score:
    """The outcome for one module."""

    mutants: int = 0
    killed: int = 0
    survived: list[Mutant] = field(default_factory=list)
    equivalent: list[tuple[Mutant, str]] = field(default_factory=list)
    not_applicable: int = 0

    @property
    def score(self) -> float:
        counted = self.killed + len(self.survived)
        return 100.0 * self.killed / counted if counted else 100.0


# --- making mutants ---------------------------------------------------------------------------------------------

_COMPARE_SWAPS: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Lt: [ast.LtE, ast.GtE],
    ast.LtE: [ast.Lt, ast.Gt],
    ast.Gt: [ast.GtE, ast.LtE],
    ast.GtE: [ast.Gt, ast.Lt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
}
_BINARY_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitOr,
}


def _skipped_lines(tree: ast.Module) -> set[int]:
    """Lines not worth mutating: docstrings, logging, type-checking-only code, ``__all__``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skipped.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in {"log", "logger", "logging", "warnings"}:
                skipped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skipped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return skipped


def _annotation_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes inside annotations (types are not behaviour)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            annotations.append(node.returns)
        for annotation in annotations:
            inside.update(id(sub) for sub in ast.walk(annotation))
    return inside


def _variants(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(description, replacement) for each mutation of ``node`` itself."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        for comparison in _COMPARE_SWAPS.get(type(node.ops[0]), []):
            changed = ast.Compare(node.left, [comparison()], node.comparators)
            yield f"{type(node.ops[0]).__name__} -> {comparison.__name__}", changed
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY_SWAPS:
        operator = _BINARY_SWAPS[type(node.op)]
        yield f"{type(node.op).__name__} -> {operator.__name__}", ast.BinOp(node.left, operator(), node.right)
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"{type(node.op).__name__} -> {type(other).__name__}", ast.BoolOp(other, node.values)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not x -> x", node.operand
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield f"{node.value} -> {not node.value}", ast.Constant(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield f"{node.value} -> {node.value + 1}", ast.Constant(node.value + 1)
        yield f"{node.value} -> {node.value - 1}", ast.Constant(node.value - 1)
    elif isinstance(node, ast.Raise):
        yield "raise -> pass", ast.Pass()


def _applicable(tree: ast.Module) -> set[int]:
    """ids of nodes whose mutation a running module can take: inside functions, or in a plain constant
    assigned at module or class level (a decorator's arguments or a class's layout cannot be swapped in)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            body = getattr(node, "body", [])
            for part in body if isinstance(body, list) else [body]:
                inside.update(id(sub) for sub in ast.walk(part))
            inside.update(id(sub) for sub in ast.walk(node.args))  # default values
    scopes: list[ast.Module | ast.ClassDef] = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]
    for scope in scopes:
        for statement in scope.body:
            value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
            if value is not None and all(isinstance(n, _CONSTANT_NODES) for n in ast.walk(value)):
                inside.update(id(sub) for sub in ast.walk(value))
    return inside


_CONSTANT_NODES = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Tuple, ast.Load, ast.Name)


def mutants(module: str) -> list[Mutant]:
    """Every mutant of ``module`` (a path relative to the repository)."""
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    skipped = _skipped_lines(tree)
    in_annotations = _annotation_nodes(tree)
    applicable = _applicable(tree)
    walk = list(ast.walk(tree))
    found: list[Mutant] = []
    for position, node in enumerate(walk):
        line = getattr(node, "lineno", None)
        if id(node) in in_annotations or id(node) not in applicable or line is None or line in skipped:
            continue
        for description, replacement in _variants(node):
            mutated = copy.deepcopy(tree)
            target = list(ast.walk(mutated))[position]  # same walk order as the original
            if not _replace(mutated, target, copy.deepcopy(replacement)):
                continue
            ast.fix_missing_locations(mutated)
            try:
                text = ast.unparse(mutated)
                compile(text, module, "exec")
            except (SyntaxError, ValueError, RecursionError):
                continue
            found.append(Mutant(module, line, description, text))
    return found


def _replace(tree: ast.AST, target: ast.AST, replacement: ast.AST) -> bool:
    """Put ``replacement`` where ``target`` is in ``tree``."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, ast.copy_location(replacement, target))
                return True
            if isinstance(value, list) and target in value:
                value[value.index(target)] = ast.copy_location(replacement, target)
                return True
    return False


# --- applying a mutant in a child -------------------------------------------------------------------------------

_SIMPLE = (int, float, str, bytes, bool, tuple, frozenset, type(None))


def _functions(namespace: dict[str, Any]) -> Iterator[tuple[str, types.FunctionType]]:
    for name, value in namespace.items():
        if isinstance(value, types.FunctionType):
            yield name, value
        elif isinstance(value, type):
            for attribute, member in vars(value).items():
                function = member.__func__ if isinstance(member, staticmethod | classmethod) else member
                if isinstance(function, property):
                    for part, accessor in (("get", function.fget), ("set", function.fset)):
                        if isinstance(accessor, types.FunctionType):
                            yield f"{name}.{attribute}.{part}", accessor
                elif isinstance(function, types.FunctionType):
                    yield f"{name}.{attribute}", function


def apply(live: types.ModuleType, mutant: Mutant) -> bool:
    """Make ``live`` behave as the mutant: swap function code, update constants; False if it cannot."""
    fresh: dict[str, Any] = {"__name__": live.__name__, "__file__": live.__file__}
    exec(compile(mutant.source, mutant.module, "exec"), fresh)
    old = dict(_functions(vars(live)))
    for name, function in _functions(fresh):
        target = old.get(name)
        if target is None:
            continue
        if target.__code__.co_freevars != function.__code__.co_freevars:
            return False
        target.__code__ = function.__code__
        target.__defaults__ = function.__defaults__
        target.__kwdefaults__ = function.__kwdefaults__
    for name, value in fresh.items():
        current = getattr(live, name, None)
        if isinstance(value, _SIMPLE) and isinstance(current, _SIMPLE) and value != current:
            setattr(live, name, value)
        elif isinstance(value, type) and isinstance(current, type):
            for attribute, member in vars(value).items():
                existing = vars(current).get(attribute)
                if isinstance(member, _SIMPLE) and isinstance(existing, _SIMPLE) and member != existing:
                    try:
                        setattr(current, attribute, member)
                    except (AttributeError, TypeError):
                        return False
    return True


def run_tests(tests: list[str], basetemp: Path) -> int:
    """pytest's exit code for ``tests`` (quiet, stopping at the first failure, deterministic examples)."""
    args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--basetemp={basetemp}"]
    args += ["-W", "ignore"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pytest
        from hypothesis import settings

        # Property tests still run, with fewer and fixed examples: a mutant is judged the same every time.
        settings.register_profile("mutation", max_examples=30, derandomize=True, database=None, deadline=None)
        settings.load_profile("mutation")
        return int(pytest.main(args))


def warm_up(tests: list[str]) -> None:
    """Import pytest, its plugins, the conftests and the test modules once, so each forked child starts warm."""
    basetemp = Path(tempfile.mkdtemp(prefix="soundtime-mutant-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import pytest

            pytest.main([*tests, "--collect-only", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}"])
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)


def judge(live: types.ModuleType, mutant: Mutant | None, tests: list[str], limit: float) -> str:
    """Run ``tests`` against ``mutant`` (None: the module as it is) in a forked child: killed/survived/n-a."""
    basetemp = Path(tempfile.mkdtemp(prefix="soundtime-mutant-"))
    pid = os.fork()
    if pid == 0:  # the child: apply, run, report by exit code
        code = 4  # a mutant that cannot be applied is not counted
        try:
            if mutant is None or apply(live, mutant):
                code = 3  # a test run that breaks down counts as a kill, as a failing test does
                code = run_tests(tests, basetemp)
        finally:
            os._exit(code)
    deadline = time.monotonic() + limit
    try:
        while True:
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "killed"  # a mutant that hangs is caught by the time limit
            time.sleep(0.01)
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)
    code = os.waitstatus_to_exitcode(status)
    if code == 4:
        return "n/a"
    return "survived" if code == 0 else "killed"


# --- the run ----------------------------------------------------------------------------------------------------


def _equivalent(mutant: Mutant) -> str | None:
    for module, line, description, why in EQUIVALENT:
        if (module, line, description) == (mutant.module, mutant.line, mutant.description):
            return why
    return None


def score_module(module: str, tests: list[str], *, quick: int | None, show: bool) -> tuple[Score, float]:
    """Mutate ``module`` and judge every mutant; the score and the seconds it took."""
    started = time.perf_counter()
    name = module.removesuffix(".py").replace("/", ".")
    live = importlib.import_module(name)
    baseline_started = time.perf_counter()
    if judge(live, None, tests, 600.0) != "survived":
        raise SystemExit(f"the tests of {module} fail without any mutation: fix them first")
    baseline = time.perf_counter() - baseline_started
    limit = 3 * baseline + 10.0
    found = mutants(module)
    if quick is not None and len(found) > quick:
        found = sorted(random.Random(module).sample(found, quick), key=lambda m: (m.line, m.description))
    score = Score()
    for mutant in found:
        why = _equivalent(mutant)
        if why is not None:
            score.equivalent.append((mutant, why))
            continue
        verdict = judge(live, mutant, tests, limit)
        score.mutants += 1
        if verdict == "killed":
            score.killed += 1
        elif verdict == "survived":
            score.survived.append(mutant)
            if show:
                print(f"  survived: {module}:{mutant.line} {mutant.description}", flush=True)
        else:
            score.not_applicable += 1
    return score, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="at most 60 mutants per module (well under 5 min)")
    parser.add_argument("--module", action="append", help="only this module (repeatable)")
    parser.add_argument("--show-survivors", action="store_true", help="print each surviving mutant as found")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    modules = args.module or list(TARGETS)
    quick = 60 if args.quick else None
    print("mutation testing:", "quick (60 mutants per module)" if quick else "every mutant (~15-25 min)", flush=True)
    warm_up(sorted({test for module in modules for test in TARGETS[module]}))
    results: dict[str, Any] = {}
    total_killed = total_counted = 0
    for module in modules:
        score, seconds = score_module(module, TARGETS[module], quick=quick, show=args.show_survivors)
        total_killed += score.killed
        total_counted += score.killed + len(score.survived)
        print(
            f"{module:34} {score.score:6.1f} %  killed {score.killed:4}  survived {len(score.survived):3}  "
            f"equivalent {len(score.equivalent):2}  n/a {score.not_applicable:2}  ({seconds:.0f} s)",
            flush=True,
        )
        results[module] = {
            "score": round(score.score, 1),
            "killed": score.killed,
            "survived": [f"{m.line}: {m.description}" for m in score.survived],
            "equivalent": [f"{m.line}: {m.description} ({why})" for m, why in score.equivalent],
            "not_applicable": score.not_applicable,
            "seconds": round(seconds, 1),
        }
    for module, line, description, why in EQUIVALENT:
        if module in modules:
            print(f"equivalent, excluded: {module}:{line} {description} — {why}")
    overall = 100.0 * total_killed / total_counted if total_counted else 100.0
    print(json.dumps({"mode": "quick" if quick else "full", "overall_score": round(overall, 1), "modules": results}))


if __name__ == "__main__":
    main()
