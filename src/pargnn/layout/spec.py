"""Process grid shapes: which shapes P processes allow, and the normal form of a request.

Each algorithm family (:mod:`pargnn.algorithms`) lays its P processes out on a grid with
named dimensions and says which shapes it accepts, using the helpers here:

============  ================  ==================================================
algorithm     shape             dimensions
============  ================  ==================================================
1d, sa1d      P x 1 x 1         row (vertex blocks), col, layer (both of size 1)
1.5d, sa1.5d  P/c x c           row (vertex blocks), rep (replicas of a block row)
2d            Pr x Pc x 1       row (vertex blocks), col (feature blocks), layer
3d            Pr x Pc x Pl      row, col, layer (slabs of the contraction dimension)
============  ================  ==================================================

A shape that cannot work (a grid whose product is not P, a replication that does not divide P)
is refused with a :class:`~pargnn.errors.ConfigError` that lists the shapes that would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pargnn.errors import ConfigError

GRID_DIMS = ("row", "col", "layer")
REPLICATED_DIMS = ("row", "rep")


@dataclass(frozen=True)
class GridSpec:
    """An algorithm and the shape of its process grid (row-major rank order)."""

    algorithm: str
    shape: tuple[int, ...]
    dim_names: tuple[str, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def describe(self) -> str:
        return "x".join(str(s) for s in self.shape)


def divisors(p: int) -> list[int]:
    return [d for d in range(1, p + 1) if p % d == 0]


def shapes_2d(p: int) -> list[tuple[int, ...]]:
    return [(r, p // r) for r in divisors(p)]


def shapes_3d(p: int) -> list[tuple[int, ...]]:
    return [(r, c, p // (r * c)) for r in divisors(p) for c in divisors(p // r)]


def valid_replications(p: int) -> list[int]:
    """``c`` for 1.5D: it divides P and leaves each replica at least one broadcast stage."""
    return [c for c in divisors(p) if c * c <= p]


def parse_grid(text: str) -> tuple[int, ...]:
    """``"2x3"`` -> ``(2, 3)``; anything else is a :class:`ConfigError` showing the form."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(
            f"--grid {text!r} is not a grid; write it as RxC or RxCxL, e.g. 2x3"
        ) from None
    if any(s < 1 for s in shape):
        raise ConfigError(f"--grid {text!r}: every dimension must be >= 1")
    return shape


def listing(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join("x".join(str(s) for s in shape) for shape in shapes)


def default_2d(p: int) -> tuple[int, ...]:
    """The most square ``Pr x Pc`` with ``Pr <= Pc`` (fewer SUMMA stages on a tie)."""
    rows = max(d for d in divisors(p) if d * d <= p)
    return rows, p // rows


def most_balanced(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The shape whose largest dimension is smallest (ties: a square base, then more rows)."""
    return min(shapes, key=lambda s: (max(s), s[0] != s[1], [-d for d in s]))


def default_3d(p: int) -> tuple[int, ...]:
    """The most balanced 3D shape that has at least two layers (a 3D grid with one layer is
    a 2D grid); for a prime P that is ``1 x 1 x P``."""
    layered = [s for s in shapes_3d(p) if s[2] >= 2]
    return most_balanced(layered or shapes_3d(p))


def row_spec(algorithm: str, nprocs: int, grid: str | None) -> GridSpec:
    """A ``P x 1 x 1`` row of processes (1D layouts); ``--grid`` may only restate it."""
    if grid is not None and parse_grid(grid) != (nprocs,):
        raise ConfigError(f"--algo {algorithm} uses a {nprocs}-process row; drop --grid {grid}")
    return GridSpec(algorithm, (nprocs, 1, 1), GRID_DIMS)


def _grid_spec(algorithm: str, nprocs: int, grid: str | None, dims: int) -> GridSpec:
    """A ``dims``-dimensional grid (2: ``Pr x Pc``, 3: ``Pr x Pc x Pl``), padded to three."""
    options, default = {2: (shapes_2d, default_2d), 3: (shapes_3d, default_3d)}[dims]
    shape = default(nprocs) if grid is None else parse_grid(grid)
    if len(shape) != dims or shape not in options(nprocs):
        raise ConfigError(f"--grid {grid} does not fit --algo {algorithm} with {nprocs} "
                          f"processes; grids that do: {listing(options(nprocs))}")
    return GridSpec(algorithm, (*shape, 1)[:3], GRID_DIMS)


def grid_2d_spec(algorithm: str, nprocs: int, grid: str | None) -> GridSpec:
    """A ``Pr x Pc`` grid (``Pl = 1``); the most square one by default."""
    return _grid_spec(algorithm, nprocs, grid, 2)


def grid_3d_spec(algorithm: str, nprocs: int, grid: str | None) -> GridSpec:
    """A ``Pr x Pc x Pl`` grid; the most balanced one with two layers or more by default."""
    return _grid_spec(algorithm, nprocs, grid, 3)


def replicated_spec(algorithm: str, nprocs: int, grid: str | None,
                    replication: int | None) -> GridSpec:
    """``P / c`` block rows replicated ``c`` times; ``c`` from ``replication``, else from a
    ``--grid RxC``, else the largest valid one."""
    options = valid_replications(nprocs)
    c = replication
    if c is None and grid is not None:
        shape = parse_grid(grid)
        c = shape[1] if len(shape) == 2 and shape[0] * shape[1] == nprocs else -1
    if c is None:
        c = max(options)
    if c not in options:
        raise ConfigError(
            f"replication {c} does not fit --algo {algorithm} with {nprocs} processes (c must "
            f"divide P and c^2 <= P); replications that do: {', '.join(map(str, options))}"
        )
    return GridSpec(algorithm, (nprocs // c, c), REPLICATED_DIMS)


@dataclass(frozen=True)
class Shapes:
    """The grids a family accepts.

    ``names`` are its ``--algo`` names; ``spec`` turns ``(--algo, P, --grid, --replication)``
    into a grid's normal form (or a :class:`ConfigError` listing the shapes that would work);
    ``layouts`` are the grids the planner considers for ``P``; ``settings`` the
    ``--grid``/``--replication`` that select a grid.
    """

    names: tuple[str, ...]
    spec: Callable[[str, int, str | None, int | None], GridSpec]
    layouts: Callable[[int], list[GridSpec]]
    settings: Callable[[GridSpec], dict[str, object]]


def replicated_layouts(algorithm: str, nprocs: int) -> list[GridSpec]:
    """Every replicated grid with ``c > 1`` (``c = 1`` is a row of processes)."""
    return [replicated_spec(algorithm, nprocs, None, c) for c in valid_replications(nprocs)
            if c > 1]


def replication_setting(spec: GridSpec) -> dict[str, object]:
    """The ``--grid``/``--replication`` that select a replicated grid."""
    return {"grid": None, "replication": spec.shape[1]}


def no_setting(spec: GridSpec) -> dict[str, object]:
    """A row of processes needs neither ``--grid`` nor ``--replication``."""
    return {"grid": None, "replication": None}


def _row(algorithm: str, nprocs: int, grid: str | None, replication: int | None) -> GridSpec:
    return row_spec(algorithm, nprocs, grid)


def _rows(algorithm: str, nprocs: int) -> list[GridSpec]:
    return [row_spec(algorithm, nprocs, None)] if nprocs > 1 else []


def row_shapes(algorithm: str) -> Shapes:
    """A row of ``P`` processes, offered by the planner from ``P = 2``."""
    return Shapes((algorithm,), _row, partial(_rows, algorithm), no_setting)


def replicated_shapes(algorithm: str) -> Shapes:
    """``P / c`` block rows replicated ``c`` times; the planner offers every ``c > 1``."""
    return Shapes((algorithm,), replicated_spec, partial(replicated_layouts, algorithm),
                  replication_setting)
