"""The exact communication model of sparsity-aware 1.5D: one rank's calls.

The team's halo all-to-all and the replicas' all-reduce for aggregation and attention (see
:mod:`pargnn.algorithms.sparsity_aware_replicated.algorithm`), from the ``halo_matrix`` of the
``P / c`` parts; every other step is 1.5D's (:mod:`pargnn.algorithms.one_five_d.traffic`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pargnn.algorithms.family import FamilyCosts
from pargnn.algorithms.one_five_d.traffic import (
    ReplicatedOpModel,
    ReplicatedRank,
    replicated_epoch,
    replicated_op,
)
from pargnn.algorithms.sparsity_aware.costs import rank_blocks, rank_shapes
from pargnn.algorithms.sparsity_aware.traffic import HaloCounts
from pargnn.cost.blocks import BlockCounts, bounds
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.steps import AGGREGATE, ATTEND, Op, Steps
from pargnn.cost.traffic import Traffic, selected_ranks
from pargnn.dist import phases
from pargnn.dist.phases import attention
from pargnn.layout.spec import GridSpec


def sparsity_aware_replicated_op(halo: HaloCounts) -> ReplicatedOpModel:
    """The op model of sa1.5d: the team's halo all-to-all and the replicas' all-reduce for
    aggregation and attention (see
    :mod:`pargnn.algorithms.sparsity_aware_replicated.algorithm`), 1.5D otherwise."""

    def model(t: Traffic, r: ReplicatedRank, op: Op, backward: bool) -> None:
        vb, own = r.value_bytes, r.block(r.i)
        rows = halo.received if backward else halo.sent  # backward returns the halo's gradient
        replicas = r.replication > 1
        aggregation = phases.aggregation(backward)
        if op.kind == AGGREGATE:
            if backward and not op.input_needs_grad:
                return
            if halo.active:
                t.add_call(aggregation, rows * op.width * vb, "all_to_all", r.teams)
            if replicas:
                t.add(aggregation, own * op.width * vb, "all_reduce", r.replication)
        elif op.kind == ATTEND:  # features and source scores travel together
            attention_phase = attention(backward)
            if halo.active:
                t.add_call(attention_phase, rows * (op.width + op.heads) * vb, "all_to_all",
                           r.teams)
            if replicas:  # softmax: max and sum forward, sum of alpha * dalpha backward
                for _ in range(1 if backward else 2):
                    t.add(attention_phase, own * op.heads * vb, "all_reduce", r.replication)
                t.add(aggregation, own * op.width * vb, "all_reduce", r.replication)
        else:
            replicated_op(t, r, op, backward)

    return model


def replicated_halo_counts(need: np.ndarray, i: int, stages: range) -> HaloCounts:
    """Rows ``(i, r)`` sends and receives within its team, from the team's ``halo_matrix``:
    it receives from the parts of its stages, and sends only if ``i`` is one of them."""
    parts = list(stages)
    sent = int(need[:, i].sum()) if i in stages else 0
    return HaloCounts(sent, int(need[i, parts].sum()), bool(need[:, parts].sum() > 0))


def sparsity_aware_replicated_epochs(spec: GridSpec, n: int, need: np.ndarray,
                                     offsets: np.ndarray, layers: Steps,
                                     value_bytes: int, training: bool,
                                     ranks: Sequence[int] | None = None) -> list[Traffic]:
    """Traffic of sa1.5d's ``ranks`` (default: all), from the :func:`halo_matrix` of its
    ``P / c`` parts."""
    teams, c = spec.shape
    part_bounds = bounds(offsets)
    out = []
    for rank in selected_ranks(spec, ranks):
        i, r = divmod(rank, c)
        place = ReplicatedRank(n, teams, c, i, r, BlockCounts((), ()), value_bytes, part_bounds)
        halo = replicated_halo_counts(need, i, place.stages())
        out.append(replicated_epoch(place, layers, training,
                                    sparsity_aware_replicated_op(halo)))
    return out


def traffic(problem: Problem, spec: GridSpec, halos: PartHalos | None,
            ranks: Sequence[int] | None, training: bool) -> list[Traffic]:
    """Per-rank traffic of one training step (or evaluation pass), from the halos of the
    partition into ``P / c`` parts."""
    if halos is None:
        raise ValueError(f"{spec.algorithm} needs its partition's halos")
    return sparsity_aware_replicated_epochs(spec, problem.n, halos.need, halos.offsets,
                                            problem.layers, problem.value_bytes, training,
                                            ranks)


# its planner entries are sa1d's: a compact block over its stages' columns
COSTS = FamilyCosts(traffic, rank_shapes, rank_blocks)
