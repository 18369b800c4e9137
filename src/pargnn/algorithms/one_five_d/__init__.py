"""CAGNET's 1.5D: block rows replicated ``c`` times, the broadcast stages shared by replicas.

``P = R x c`` processes: process ``(i, r)`` holds block row ``B[i]`` of every dense matrix with
every column; replica ``r`` of each block row computes a contiguous chunk of the ``R`` stages,
broadcasting ``X[B[s]]`` within its team ``(*, r)``, and the replicas all-reduce their partial
sums. The modules:

* :mod:`~pargnn.algorithms.one_five_d.spmm`: the aggregation;
* :mod:`~pargnn.algorithms.one_five_d.dense`: transform, bias, scale, dropout, loss, accuracy;
* :mod:`~pargnn.algorithms.one_five_d.attention`: graph attention in this layout;
* :mod:`~pargnn.algorithms.one_five_d.algorithm`: the algorithm and how a rank builds it;
* :mod:`~pargnn.algorithms.one_five_d.traffic` and :mod:`~pargnn.algorithms.one_five_d.costs`:
  its exact communication model and its planner entries.
"""

from __future__ import annotations

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.one_five_d.algorithm import build_one_five_d
from pargnn.algorithms.one_five_d.costs import rank_blocks, rank_shapes
from pargnn.algorithms.one_five_d.traffic import traffic
from pargnn.layout.spec import GridSpec, replicated_spec, valid_replications


def grid_spec(name: str, nprocs: int, grid: str | None, replication: int | None) -> GridSpec:
    """``P / c`` block rows, ``c`` from ``--replication`` (or ``--grid RxC``; default: the
    largest valid)."""
    return replicated_spec(name, nprocs, grid, replication)


def layouts(nprocs: int) -> list[GridSpec]:
    """Every replication ``c > 1`` (``c = 1`` is 1D)."""
    return [replicated_spec("1.5d", nprocs, None, c) for c in valid_replications(nprocs)
            if c > 1]


def settings(spec: GridSpec) -> dict[str, object]:
    return {"grid": None, "replication": spec.shape[1]}


FAMILY = AlgorithmFamily(
    names=("1.5d",),
    summary="CAGNET's 1.5D: block rows replicated c times, each replica broadcasting 1/c of "
            "the stages, partial sums all-reduced over the replicas",
    grid_spec=grid_spec,
    layouts=layouts,
    settings=settings,
    build=build_one_five_d,
    traffic=traffic,
    rank_shapes=rank_shapes,
    rank_blocks=rank_blocks,
    replicated=True,
)
