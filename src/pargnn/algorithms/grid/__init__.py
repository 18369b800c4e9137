"""CAGNET's 1D, 2D and 3D: a SUMMA over a ``Pr x Pc x Pl`` process grid.

Process ``(i, j, l)`` holds vertex rows ``B[i, l]`` and feature columns ``F[j]`` of every
dense matrix; ``1d`` is ``P x 1 x 1`` (every block of ``H`` broadcast in turn, the sparse
blocks never move), ``2d`` is ``Pr x Pc x 1`` (stationary output) and ``3d`` adds ``Pl``
layers whose partial sums are reduce-scattered. The modules:

* :mod:`~pargnn.algorithms.grid.summa`: the aggregation and the column moves;
* :mod:`~pargnn.algorithms.grid.dense`: transform, bias, scale, dropout, loss and accuracy;
* :mod:`~pargnn.algorithms.grid.attention`: graph attention on the grid;
* :mod:`~pargnn.algorithms.grid.algorithm`: the algorithm and how a rank builds it;
* :mod:`~pargnn.algorithms.grid.traffic` and :mod:`~pargnn.algorithms.grid.costs`: its
  exact communication model and its planner entries.
"""

from __future__ import annotations

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.grid.algorithm import build_grid
from pargnn.algorithms.grid.costs import COSTS
from pargnn.layout.spec import (
    GridSpec,
    Shapes,
    grid_2d_spec,
    grid_3d_spec,
    row_spec,
    shapes_2d,
    shapes_3d,
)

_SHAPES = {"1d": row_spec, "2d": grid_2d_spec, "3d": grid_3d_spec}


def grid_spec(name: str, nprocs: int, grid: str | None, replication: int | None) -> GridSpec:
    """``1d``: a row of P; ``2d``: ``--grid RxC``; ``3d``: ``--grid RxCxL``."""
    return _SHAPES[name](name, nprocs, grid)


def layouts(nprocs: int) -> list[GridSpec]:
    """1D; every 2D grid with more than one column (``P x 1`` is 1D); every 3D grid with at
    least two layers."""
    out = [row_spec("1d", nprocs, None)]
    if nprocs == 1:
        return out
    out += [grid_2d_spec("2d", nprocs, f"{r}x{c}") for r, c in shapes_2d(nprocs) if c > 1]
    out += [grid_3d_spec("3d", nprocs, "x".join(map(str, s)))
            for s in shapes_3d(nprocs) if s[2] >= 2]
    return out


def settings(spec: GridSpec) -> dict[str, object]:
    """``--grid`` for 2D and 3D (the 1D row needs none)."""
    dims = {"1d": 0, "2d": 2, "3d": 3}[spec.algorithm]
    return {"grid": "x".join(str(s) for s in spec.shape[:dims]) or None, "replication": None}


FAMILY = AlgorithmFamily(
    shapes=Shapes(("1d", "2d", "3d"), grid_spec, layouts, settings),
    build=build_grid,
    costs=COSTS,
)
