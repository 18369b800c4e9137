"""The grid family's planner entries: what each rank computes, stores and multiplies.

For rank ``(i, j, l)``: its rows ``B[i, l]``, its share ``F[j]`` of every matrix's columns,
the blocks ``S[V[i], B[s, l]]`` it stores (stages ``s mod Pc == j``) and those it receives,
and the workspace of its broadcasts and reductions (:class:`~pargnn.cost.memory.Buffers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pargnn.algorithms.family import FamilyCosts
from pargnn.algorithms.grid.traffic import GridRank, grid_place, grid_rank, traffic
from pargnn.cost.blocks import matrix_of
from pargnn.cost.compute import LocalShape
from pargnn.cost.memory import Buffers, RankShape, csr_bytes
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.sparse_timing import RankBlocks, grid_blocks, stride_for
from pargnn.cost.traffic import selected_ranks
from pargnn.graph.partition import Partition
from pargnn.layout.offsets import GridLayout
from pargnn.layout.spec import GridSpec


def column_share(layout: GridLayout, j: int) -> Callable[[int], int]:
    """How many of a ``width``-wide matrix's columns grid column ``j`` holds."""

    def columns(width: int) -> int:
        lo, hi = layout.features(width, j)
        return hi - lo

    return columns


def _rank_shape(r: GridRank) -> RankShape:
    lay = r.layout
    v_lo, v_hi = lay.grid_row(r.i)
    owned = [s for s in range(lay.rows) if s % lay.cols == r.j]
    stored = sum(csr_bytes(v_hi - v_lo, r.counts.forward[s] + r.counts.backward[s],
                           r.index_bytes, r.value_bytes) + (v_hi - v_lo + 1) * r.index_bytes
                 for s in owned)
    shape = LocalShape(lay.block_size(r.i, r.layer), column_share(lay, r.j), r.counts.forward,
                       r.counts.backward, [r.counts.forward[s] for s in owned],
                       reduced_rows=v_hi - v_lo if lay.layers > 1 else 0)
    others = [s for s in range(lay.rows) if s != r.i]
    received_sparse = max((csr_bytes(v_hi - v_lo, r.counts.forward[s], r.index_bytes,
                                     r.value_bytes)
                           for s in range(lay.rows) if s % lay.cols != r.j), default=0)
    buffers = Buffers(max((lay.block_size(s, r.layer) for s in others), default=0),
                      v_hi - v_lo, received_sparse, lay.layers, lay.cols)
    return RankShape(shape, stored, buffers)


def rank_shapes(problem: Problem, spec: GridSpec, halos: PartHalos | None,
                ranks: Sequence[int] | None) -> list[RankShape]:
    """Per rank of a 1D/2D/3D grid: its shape, its stored graph bytes, its workspace."""
    return [_rank_shape(grid_rank(spec, problem.n, problem.at, problem.a, rank,
                                  problem.value_bytes))
            for rank in selected_ranks(spec, ranks)]


def rank_blocks(problem: Problem, spec: GridSpec, partition: Partition | None
                ) -> list[RankBlocks]:
    """Every rank's stage blocks of its grid row, on a row sample."""
    at, a = matrix_of(problem.at), matrix_of(problem.a)
    stride = stride_for(spec.shape[1] * problem.nnz)  # a grid row's, on each grid column
    out = []
    for rank in range(spec.size):
        lay, i, j, layer = grid_place(spec, problem.n, rank)
        ranges = [lay.block(s, layer) for s in range(lay.rows)]
        out.append(grid_blocks(at, a, lay.grid_row(i), ranges, stride, column_share(lay, j)))
    return out


COSTS = FamilyCosts(traffic, rank_shapes, rank_blocks)
