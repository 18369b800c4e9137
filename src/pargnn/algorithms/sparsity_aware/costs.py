"""The planner entries of the sparsity-aware families (sa1d, and sa1.5d with ``c > 1``).

Process ``(i, r)`` (``r = 0`` for sa1d) holds part ``i``'s rows over the compact columns of
its stages' parts: its own rows and its halo within the team. Its sparse block is stored in
both orientations; it receives its halo in one exchange, not in stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pargnn.algorithms.family import FamilyCosts
from pargnn.algorithms.sparsity_aware.traffic import traffic
from pargnn.cost.blocks import matrix_of
from pargnn.cost.compute import LocalShape, full_width
from pargnn.cost.memory import Buffers, RankShape, csr_bytes
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.sparse_timing import RankBlocks, compact_blocks, stride_for
from pargnn.cost.traffic import index_bytes, selected_ranks
from pargnn.graph.partition import Partition
from pargnn.layout.offsets import balanced_offsets
from pargnn.layout.spec import REPLICATED_DIMS, GridSpec


def replicas(spec: GridSpec) -> int:
    """``c``: the replicas of each part (1 on a row of processes)."""
    return spec.shape[1] if spec.dim_names == REPLICATED_DIMS else 1


def parts(spec: GridSpec) -> int:
    """The parts of the partition: one per team member."""
    return spec.size // replicas(spec)


def _rank_shape(problem: Problem, halos: PartHalos, i: int, stages: list[int],
                index: int) -> RankShape:
    offsets, need, nnz = halos
    block = int(nnz[i, stages].sum())
    halo = int(need[i, stages].sum())
    sent = int(need[:, i].sum()) if i in stages else 0
    rows = int(offsets[i + 1] - offsets[i])
    vb = problem.value_bytes
    stored = csr_bytes(rows, block, index, vb) + csr_bytes(rows + halo, block, index, vb)
    shape = LocalShape(rows, full_width, (block,), (block,), (block,))
    return RankShape(shape, stored + 8 * sent, Buffers(halo + rows, rows, staged=False,
                                                       exchange_rows=halo,
                                                       widened_indices=False))


def rank_shapes(problem: Problem, spec: GridSpec, halos: PartHalos | None,
                ranks: Sequence[int] | None) -> list[RankShape]:
    """Per rank: its compact block over its stages' columns, its halo, its workspace."""
    if halos is None:
        raise ValueError(f"{spec.algorithm} needs its partition's halos")
    c = replicas(spec)
    stage_offsets = balanced_offsets(spec.size // c, c)
    index = index_bytes(problem.n, problem.nnz)
    out = []
    for rank in selected_ranks(spec, ranks):
        i, r = divmod(rank, c)
        stages = list(range(int(stage_offsets[r]), int(stage_offsets[r + 1])))
        out.append(_rank_shape(problem, halos, i, stages, index))
    return out


def rank_blocks(problem: Problem, spec: GridSpec, partition: Partition | None
                ) -> list[RankBlocks]:
    """Every rank's compact block (its part's rows, its stages' columns), on a row sample."""
    if partition is None:
        raise ValueError(f"{spec.algorithm} needs its partition")
    at, c = matrix_of(problem.at), replicas(spec)
    order, offsets = partition.order, partition.offsets
    position = np.empty(problem.n, dtype=np.int64)
    position[order] = np.arange(problem.n)
    stage_offsets = balanced_offsets(spec.size // c, c)
    stride = stride_for(problem.nnz)  # every non-zero is one rank's
    out = []
    for rank in range(spec.size):
        i, r = divmod(rank, c)
        stages = (int(offsets[stage_offsets[r]]), int(offsets[stage_offsets[r + 1]]))
        out.append(compact_blocks(at, order, position, (int(offsets[i]), int(offsets[i + 1])),
                                  stages, stride, full_width))
    return out


COSTS = FamilyCosts(traffic, rank_shapes, rank_blocks)
