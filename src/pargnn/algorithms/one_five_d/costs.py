"""The 1.5D family's planner entries: what each rank computes, stores and multiplies.

Process ``(i, r)`` holds block row ``B[i]`` with every column and the blocks ``S[B[i], B[s]]``
of its replica's stages; it receives one stage's ``X[B[s]]`` at a time and all-reduces its
partial sum with its replicas.
"""

from __future__ import annotations

from collections.abc import Sequence

from pargnn.algorithms.family import FamilyCosts
from pargnn.algorithms.one_five_d.traffic import (
    ReplicatedRank,
    replicated_rank,
    team_place,
    traffic,
)
from pargnn.cost.blocks import matrix_of
from pargnn.cost.compute import LocalShape, full_width
from pargnn.cost.memory import Buffers, RankShape, csr_bytes
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.sparse_timing import RankBlocks, grid_blocks, stride_for
from pargnn.cost.traffic import index_bytes, selected_ranks
from pargnn.graph.partition import Partition
from pargnn.layout.offsets import balanced_offsets
from pargnn.layout.spec import GridSpec


def _rank_shape(r: ReplicatedRank, index: int) -> RankShape:
    rows = r.block(r.i)
    stored = sum(csr_bytes(rows, f + b, index, r.value_bytes) + (rows + 1) * index
                 for f, b in zip(r.counts.forward, r.counts.backward, strict=True))
    shape = LocalShape(rows, full_width, r.counts.forward, r.counts.backward, r.counts.forward)
    received = max((r.block(s) for s in r.stages() if s != r.i), default=0)
    return RankShape(shape, stored, Buffers(received, rows))


def rank_shapes(problem: Problem, spec: GridSpec, halos: PartHalos | None,
                ranks: Sequence[int] | None) -> list[RankShape]:
    """Per rank: its shape, its stored graph bytes, its workspace."""
    index = index_bytes(problem.n, problem.nnz)
    return [_rank_shape(replicated_rank(spec, problem.n, problem.at, problem.a, rank,
                                        problem.value_bytes), index)
            for rank in selected_ranks(spec, ranks)]


def rank_blocks(problem: Problem, spec: GridSpec, partition: Partition | None
                ) -> list[RankBlocks]:
    """Every rank's blocks of its block row over its stages' columns, on a row sample."""
    at, a = matrix_of(problem.at), matrix_of(problem.a)
    bounds = balanced_offsets(problem.n, spec.shape[0])
    stride = stride_for(problem.nnz)  # each team member: its stages' columns
    out = []
    for rank in range(spec.size):
        team = team_place(spec, problem.n, rank, problem.value_bytes)
        ranges = [(int(bounds[s]), int(bounds[s + 1])) for s in team.stages()]
        rows = (int(bounds[team.i]), int(bounds[team.i + 1]))
        out.append(grid_blocks(at, a, rows, ranges, stride, full_width))
    return out


COSTS = FamilyCosts(traffic, rank_shapes, rank_blocks)
