"""The shape of the source tree: no import cycles, small files and functions, and names that
live in one place (algorithm names in their family, phase names in ``dist/phases.py``)."""

from __future__ import annotations

import ast
import statistics
from functools import cache
from pathlib import Path

from pargnn.algorithms.registry import ALGORITHMS, FAMILIES
from pargnn.dist import phases

SOURCE = Path(__file__).resolve().parents[2] / "src" / "pargnn"
# "train" is also a split and a command: the check covers the other phases
PHASES = {value for name, value in vars(phases).items()
          if name.isupper() and isinstance(value, str)} - {phases.TRAIN}


@cache
def modules() -> dict[str, Path]:
    """Every module of ``src/pargnn`` by its dotted name (a package by its own name)."""
    out = {}
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imported(module: str, path: Path, node: ast.AST) -> list[str]:
    """The names an import statement (at any depth: lazy and TYPE_CHECKING ones included)
    refers to, relative imports resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``pargnn`` it imports (a name is resolved to the longest
    module it names: ``from pargnn.x import y`` is ``pargnn.x.y`` if that is a module)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            for target in _imported(name, path, node):
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_the_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_import_graph_sees_lazy_imports() -> None:
    """``pargnn/__init__.py`` imports its API lazily (under TYPE_CHECKING and by name); the
    graph must still see that it reaches the front door."""
    assert "pargnn.training.run" in import_graph()["pargnn"]


def test_no_file_over_400_lines_and_short_functions() -> None:
    lengths = []
    for path in modules().values():
        text = path.read_text()
        assert len(text.splitlines()) <= 400, f"{path} has {len(text.splitlines())} lines"
        lengths += [node.end_lineno - node.lineno + 1 for node in ast.walk(ast.parse(text))
                    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and node.end_lineno is not None]
    assert statistics.median(lengths) <= 10


def _string_literals(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def _where(literals: set[str]) -> dict[str, set[str]]:
    """Module -> which of ``literals`` appear in it as a whole string constant."""
    found = {name: _string_literals(path) & literals for name, path in modules().items()}
    return {name: hits for name, hits in found.items() if hits}


def test_algorithm_names_live_in_their_family() -> None:
    """An algorithm's name is written only in its family's package (which declares it) and
    in the calibration's choice of reference layouts; everything else asks the registry."""
    homes = {name: f"pargnn.algorithms.{f.build.__module__.split('.')[2]}"
             for f in FAMILIES for name in f.names}
    for module, names in _where(set(ALGORITHMS)).items():
        for name in names:
            assert module.startswith(homes[name]) or module == "pargnn.planner.reference", (
                f"{module} spells the algorithm name {name!r}")


def test_phase_names_are_written_once() -> None:
    assert {"forward_aggregation", "backward_aggregation", "dense_transform", "loss"} <= PHASES
    assert set(_where(PHASES)) == {"pargnn.dist.phases"}
