"""The exact communication model of CAGNET's 1.5D: one rank's calls.

Mirrors :mod:`pargnn.algorithms.one_five_d.spmm`, :mod:`pargnn.algorithms.one_five_d.dense` and
:mod:`pargnn.algorithms.one_five_d.attention` call by call (see :mod:`pargnn.cost.traffic`).
sa1.5d reuses it for everything but its halo exchanges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pargnn.cost.blocks import BlockCounts, Matrix, count_blocks
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.steps import AGGREGATE, ATTEND, HEAD_SCORES, Op, Steps, flat, gradient_words
from pargnn.cost.traffic import COUNT_BYTES, Traffic, selected_ranks
from pargnn.dist import phases
from pargnn.dist.phases import (
    BACKWARD_AGGREGATION,
    BACKWARD_ATTENTION,
    DENSE_TRANSFORM,
    FORWARD_AGGREGATION,
    LOSS,
    attention,
)
from pargnn.layout.offsets import balanced_offsets
from pargnn.layout.spec import GridSpec


@dataclass(frozen=True)
class ReplicatedRank:
    n: int
    teams: int
    replication: int
    i: int
    r: int
    counts: BlockCounts  # indexed by position in stages()
    value_bytes: int
    offsets: tuple[int, ...] | None = None  # block rows; None: balanced

    def block(self, b: int) -> int:
        off = balanced_offsets(self.n, self.teams) if self.offsets is None else self.offsets
        return int(off[b + 1] - off[b])

    def stages(self) -> range:
        off = balanced_offsets(self.teams, self.replication)
        return range(int(off[self.r]), int(off[self.r + 1]))


def team_place(spec: GridSpec, n: int, rank: int, value_bytes: int) -> ReplicatedRank:
    """``rank``'s team and stages in the 1.5D layout, without its blocks' counts."""
    teams, c = spec.shape
    i, r = divmod(rank, c)
    return ReplicatedRank(n, teams, c, i, r, BlockCounts((), ()), value_bytes)


def replicated_rank(spec: GridSpec, n: int, at: Matrix, a: Matrix, rank: int,
                    value_bytes: int) -> ReplicatedRank:
    probe = team_place(spec, n, rank, value_bytes)
    offsets = balanced_offsets(n, probe.teams)
    rows = (int(offsets[probe.i]), int(offsets[probe.i + 1]))
    blocks = [(int(offsets[s]), int(offsets[s + 1])) for s in probe.stages()]
    return replace(probe, counts=count_blocks(at, a, rows, blocks))


def replicated_spmm(t: Traffic, r: ReplicatedRank, width: int, phase: str) -> None:
    for s in r.stages():
        if r.teams > 1:
            t.add(phase, r.block(s) * width * r.value_bytes, "broadcast", r.teams)
    if r.replication > 1:
        t.add(phase, r.block(r.i) * width * r.value_bytes, "all_reduce", r.replication)


def replicated_attend(t: Traffic, r: ReplicatedRank, op: Op, backward: bool) -> None:
    """As :func:`grid_attend` in the 1.5D layout (see
    :mod:`pargnn.algorithms.one_five_d.attention`)."""
    vb, k, rows = r.value_bytes, op.heads, r.block(r.i)
    pad = max(r.block(b) for b in range(r.teams))
    phase = attention(backward)
    gather = "reduce_scatter" if backward else "all_gather"
    if r.teams > 1:  # source scores: all-gather forward, reduce-scatter backward
        t.add(phase, (r.teams - 1) * pad * k * vb, gather, r.teams)
    if r.replication > 1:
        for _ in range(1 if backward else 2):
            t.add(phase, rows * k * vb, "all_reduce", r.replication)
    aggregation = phases.aggregation(backward)
    for s in r.stages():
        if r.teams > 1:
            t.add(aggregation, r.block(s) * op.width * vb, "broadcast", r.teams)
        if backward and r.teams > 1:  # dG reduced to (s, r)
            t.add(aggregation, r.block(s) * op.width * vb, "reduce", r.teams)
    if r.replication > 1:
        t.add(aggregation, rows * op.width * vb, "all_reduce", r.replication)


def replicated_op(t: Traffic, r: ReplicatedRank, op: Op, backward: bool) -> None:
    team = r.teams > 1
    if op.kind == HEAD_SCORES:  # local; gradients summed over the replicas and the team
        if backward and r.replication > 1:
            t.add(BACKWARD_ATTENTION, r.block(r.i) * op.heads * r.value_bytes, "all_reduce",
                  r.replication)
        if backward and team:
            t.add(BACKWARD_ATTENTION, op.width * r.value_bytes, "all_reduce", r.teams)
    elif op.kind == ATTEND:
        replicated_attend(t, r, op, backward)
    elif op.kind == AGGREGATE:
        if not backward:
            replicated_spmm(t, r, op.width, FORWARD_AGGREGATION)
        elif op.input_needs_grad:
            replicated_spmm(t, r, op.width, BACKWARD_AGGREGATION)
    elif backward and team:
        t.add(DENSE_TRANSFORM, gradient_words(op) * r.value_bytes, "all_reduce", r.teams)


ReplicatedOpModel = Callable[[Traffic, ReplicatedRank, Op, bool], None]


def replicated_epoch(r: ReplicatedRank, layers: Steps, training: bool,
                     op_model: ReplicatedOpModel = replicated_op) -> Traffic:
    t = Traffic()
    ops = flat(layers)
    for op in ops:
        op_model(t, r, op, False)
    if not training:
        for _ in range(3):
            if r.teams > 1:
                t.add(LOSS, COUNT_BYTES, "all_reduce", r.teams)
        return t
    if r.teams > 1:
        t.add(LOSS, r.value_bytes, "all_reduce", r.teams)
    for op in reversed(ops):
        op_model(t, r, op, True)
    return t


def traffic(problem: Problem, spec: GridSpec, halos: PartHalos | None,
            ranks: Sequence[int] | None, training: bool) -> list[Traffic]:
    """Per-rank traffic of one training step (or evaluation pass) on ``spec``."""
    return [replicated_epoch(replicated_rank(spec, problem.n, problem.at, problem.a, k,
                                             problem.value_bytes), problem.layers, training)
            for k in selected_ranks(spec, ranks)]
