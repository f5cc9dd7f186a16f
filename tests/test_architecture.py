"""The import rule of docs/architecture.md, checked on the syntax tree of every module.

Each module belongs to one floor; a floor imports only the floors it is built on (directly or
through them), never one above or beside it, and no two modules import each other, directly or
round a longer loop. Every ``import`` counts, deferred ones inside functions included: a deferred
import hides a dependency from the reader, it does not remove it.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tasks", "bioinstruct_data", "leaderboard", "runners", "benchmarks", "tests")

# floor -> (module prefixes, the floors it is built on). A module belongs to the floor of its
# longest matching prefix. Keep in step with the table in docs/architecture.md.
FLOORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ground": (("tasks.ground",), ()),
    "tasks": (("tasks",), ("ground",)),
    "bioinstruct_data": (("bioinstruct_data",), ("tasks",)),
    "leaderboard.contract": (
        ("leaderboard.schemas", "leaderboard.items", "leaderboard.suite", "leaderboard.evalspec"),
        ("tasks",),
    ),
    "leaderboard.scoring": (
        (
            "leaderboard.stats",
            "leaderboard.rescore",
            "leaderboard.trivial",
            "leaderboard.collapse",
            "leaderboard.baselines",
        ),
        ("leaderboard.contract",),
    ),
    "leaderboard.checks": (
        ("leaderboard.validate", "leaderboard.store"),
        ("leaderboard.scoring",),
    ),
    "leaderboard.queue": (
        ("leaderboard.leases", "leaderboard.request_queue"),
        ("leaderboard.contract",),
    ),
    "leaderboard.analysis": (
        (
            "leaderboard.loader",
            "leaderboard.compare",
            "leaderboard.ranking",
            "leaderboard.verdict",
            "leaderboard.report",
        ),  # fmt: skip
        ("leaderboard.checks",),
    ),
    "leaderboard.app": (
        ("leaderboard", "leaderboard.views", "leaderboard.screens", "leaderboard.app"),
        ("leaderboard.analysis", "leaderboard.queue"),
    ),
    "runners": (("runners",), ("bioinstruct_data", "leaderboard.app")),
    "test support": (("tests.support",), ("runners",)),
    "benchmarks": (("benchmarks",), ("test support",)),
    "tests": (("tests",), ("benchmarks",)),
}

# Imports that break the rule today, each with the issue that removes it (none now: the Submit
# page calls the request queue's API, not `biobench request`'s main).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_in(source: str, module: str, known: dict[str, Path], is_package: bool = False):
    """(project module, line) of every import in ``source``, the text of ``module``: an imported
    name resolves to the module it lives in (a package's ``__init__`` for a name defined there);
    imports of anything outside ``known`` are left out."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name, node.lineno


def imported(module: str) -> Iterator[tuple[str, int]]:
    path = modules()[module]
    text = path.read_text(encoding="utf-8")
    yield from imports_in(text, module, modules(), is_package=path.name == "__init__.py")


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of its first import}."""
    out: dict[str, dict[str, int]] = {}
    for module in modules():
        edges = out.setdefault(module, {})
        for target, line in imported(module):
            edges.setdefault(target, line)
    return out


def floor_of(module: str) -> str:
    best = max(
        ((prefix, floor) for floor, (prefixes, _) in FLOORS.items() for prefix in prefixes
         if module == prefix or module.startswith(prefix + ".")),
        key=lambda pair: len(pair[0]),
    )  # fmt: skip
    return best[1]


@cache
def reachable(floor: str) -> frozenset[str]:
    """The floors ``floor`` may import: itself and everything it is built on, transitively."""
    out = {floor}
    for below in FLOORS[floor][1]:
        out |= reachable(below)
    return frozenset(out)


def test_every_module_is_on_a_floor():
    for module in modules():
        assert floor_of(module) in FLOORS


def test_no_module_imports_a_floor_above_or_beside_it():
    wrong, used = [], set()
    for module, target, line in (
        (m, target, line) for m, edges in graph().items() for target, line in edges.items()
    ):
        if floor_of(target) in reachable(floor_of(module)):
            continue
        if (module, target) in KNOWN_EXCEPTIONS:
            used.add((module, target))
            continue
        wrong.append(
            f"{modules()[module].relative_to(ROOT)}:{line}: {module} ({floor_of(module)})"
            f" imports {target} ({floor_of(target)})"
        )
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(sorted(wrong))
    stale = set(KNOWN_EXCEPTIONS) - used
    assert not stale, f"known exceptions that no longer occur, delete them: {sorted(stale)}"


def test_no_import_cycles():
    try:
        graphlib.TopologicalSorter({m: set(edges) for m, edges in graph().items()}).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"modules that import each other: {' -> '.join(exc.args[1])}")


def test_the_ground_floor_imports_nothing_of_the_project():
    ground = [m for m in modules() if floor_of(m) == "ground"]
    assert ground, "tasks/ground has no modules"
    for module in ground:
        for target, line in imported(module):
            assert floor_of(target) == "ground", f"{module}:{line} imports {target}"


KNOWN = {m: Path() for m in ("leaderboard", "leaderboard.items", "leaderboard.schemas",
                             "runners", "runners.request", "tasks", "tasks.ground")}  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from leaderboard import items\n", {"leaderboard.items"}),
        ("from leaderboard.schemas import Submission\n", {"leaderboard.schemas"}),
        ("from leaderboard import VERSION\n", {"leaderboard"}),
        ("def f():\n    import runners.request as r\n", {"runners.request"}),
        (
            "from . import items\nfrom .schemas import X\n",
            {"leaderboard.items", "leaderboard.schemas"},
        ),
        ("import numpy\nfrom os import path\n", set()),
    ],
)
def test_imports_are_read_from_the_syntax_tree(source, expected):
    """The checker itself: deferred and relative imports count, names resolve to modules."""
    assert {m for m, _ in imports_in(source, "leaderboard.store", KNOWN)} == expected


def test_a_forbidden_import_is_found():
    """A ground-floor module importing the leaderboard would be reported with its floor."""
    edges = dict(imports_in("from leaderboard.items import x\n", "tasks.ground.x", KNOWN))
    assert edges == {"leaderboard.items": 1}
    assert floor_of("leaderboard.items") not in reachable(floor_of("tasks.ground.x"))
