"""The exact communication model of sparsity-aware 1D: one rank's calls.

The halo all-to-alls of :mod:`pargnn.algorithms.sparsity_aware.algorithm` for aggregation and
attention, from the partition's :func:`~pargnn.graph.partition.halo_matrix`; every other step is
1D's (:mod:`pargnn.algorithms.grid.traffic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pargnn.algorithms.grid.traffic import GridRank, OpModel, grid_epoch, grid_op
from pargnn.cost.blocks import BlockCounts, bounds
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.steps import AGGREGATE, ATTEND, Op, Steps
from pargnn.cost.traffic import INDEX_BYTES, Traffic, selected_ranks
from pargnn.dist import phases
from pargnn.dist.phases import attention
from pargnn.layout.offsets import GridLayout
from pargnn.layout.spec import GridSpec


@dataclass(frozen=True)
class HaloCounts:
    """Rows rank ``i`` sends (to all others together) and receives, from ``halo_matrix``."""

    sent: int
    received: int
    active: bool


def sparsity_aware_op(halo: HaloCounts) -> OpModel:
    """The op model of sa1d: halo all-to-alls for aggregation and attention, 1D otherwise."""

    def model(t: Traffic, r: GridRank, op: Op, backward: bool, world: int) -> None:
        rows = halo.received if backward else halo.sent  # backward returns the halo's gradient
        if op.kind == AGGREGATE:
            if halo.active and (not backward or op.input_needs_grad):
                phase = phases.aggregation(backward)
                t.add_call(phase, rows * op.width * r.value_bytes, "all_to_all", world)
        elif op.kind == ATTEND:  # features and source scores travel together
            if halo.active:
                phase = attention(backward)
                t.add_call(phase, rows * (op.width + op.heads) * r.value_bytes, "all_to_all", world)
        else:
            grid_op(t, r, op, backward, world)

    return model


def sparsity_aware_epochs(spec: GridSpec, n: int, need: np.ndarray, offsets: np.ndarray,
                          layers: Steps, classes: int, value_bytes: int,
                          training: bool, ranks: Sequence[int] | None = None) -> list[Traffic]:
    """Traffic of sa1d's ``ranks`` (default: all), from the partition's :func:`halo_matrix`."""
    active = bool(need.sum() > 0)
    layout = GridLayout(n, spec.size, 1, 1, offsets=bounds(offsets))
    out = []
    for rank in selected_ranks(spec, ranks):
        r = GridRank(layout, rank, 0, 0, BlockCounts((), ()), value_bytes, INDEX_BYTES[True])
        halo = HaloCounts(int(need[:, rank].sum()), int(need[rank].sum()), active)
        out.append(grid_epoch(r, layers, classes, spec.size, training, sparsity_aware_op(halo)))
    return out


def traffic(problem: Problem, spec: GridSpec, halos: PartHalos | None,
            ranks: Sequence[int] | None, training: bool) -> list[Traffic]:
    """Per-rank traffic of one training step (or evaluation pass), from the partition's
    halos."""
    if halos is None:
        raise ValueError(f"{spec.algorithm} needs its partition's halos")
    return sparsity_aware_epochs(spec, problem.n, halos.need, halos.offsets, problem.layers,
                                 problem.classes, problem.value_bytes, training, ranks)
