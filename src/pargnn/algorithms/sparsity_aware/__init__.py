"""Sparsity-aware 1D: each process receives only the rows of ``H`` its block of ``A^T``
touches, its halo, from a partition that keeps most edges inside parts.

The modules:

* :mod:`~pargnn.algorithms.sparsity_aware.halo`: finding the halo and exchanging it (shared
  with sa1.5d);
* :mod:`~pargnn.algorithms.sparsity_aware.algorithm`: the algorithm and how a rank builds it
  (the dense steps are 1D's);
* :mod:`~pargnn.algorithms.sparsity_aware.traffic` and
  :mod:`~pargnn.algorithms.sparsity_aware.costs`: its exact communication model and its
  planner entries (the latter shared with sa1.5d).
"""

from __future__ import annotations

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.sparsity_aware.algorithm import build_sparsity_aware
from pargnn.algorithms.sparsity_aware.costs import parts, rank_blocks, rank_shapes
from pargnn.algorithms.sparsity_aware.traffic import traffic
from pargnn.layout.spec import GridSpec, row_spec


def grid_spec(name: str, nprocs: int, grid: str | None, replication: int | None) -> GridSpec:
    """A row of P processes, one part each."""
    return row_spec(name, nprocs, grid)


def layouts(nprocs: int) -> list[GridSpec]:
    return [row_spec("sa1d", nprocs, None)] if nprocs > 1 else []


def settings(spec: GridSpec) -> dict[str, object]:
    return {"grid": None, "replication": None}


FAMILY = AlgorithmFamily(
    names=("sa1d",),
    summary="sparsity-aware 1D: a partition into P parts (--partition), each process "
            "receiving only its halo with one all-to-all",
    grid_spec=grid_spec,
    layouts=layouts,
    settings=settings,
    build=build_sparsity_aware,
    traffic=traffic,
    rank_shapes=rank_shapes,
    rank_blocks=rank_blocks,
    parts=parts,
)
