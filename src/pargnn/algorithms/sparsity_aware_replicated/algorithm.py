"""Sparsity-aware 1.5D: the halo exchange of sa1d inside each replica team of CAGNET's 1.5D.

Layout as in :mod:`pargnn.algorithms.one_five_d.spmm`, with the block rows cut by a partition
into ``R``
parts (``P = R x c``): process ``(i, r)`` holds part ``B[i]`` of every dense matrix, and
replica ``r`` of every block row computes the terms ``s`` of its contiguous chunk of stages
``[s_r, s_{r+1})``. Where 1.5D broadcasts the whole ``X[B[s]]`` within the team ``(*, r)``,
here (as in :mod:`pargnn.algorithms.sparsity_aware.halo`):

* **at setup** process ``(i, r)`` keeps the columns of its rows of ``A^T`` that fall in its
  stages' parts, finds which of them it lacks (its halo within the team) and tells their
  owners, and renumbers its block over the compact columns ``[own rows, halo rows]``;
* **each aggregation** is one all-to-all within the team ``(*, r)`` (process ``(s, r)`` sends
  only if ``s`` is one of replica ``r``'s stages), the local product of the compact block,
  and the all-reduce of the replicas' partial sums over ``(i, *)``, as in 1.5D;
* **backward** is the adjoint: the compact block's transpose times ``dY`` (every replica
  holds the whole ``dY``), the halo's gradient sent back within the team, and an all-reduce
  over the replicas. Only the replica whose stages include ``i`` has a non-zero gradient for
  ``X[B[i]]``; the all-reduce hands it to the others.

With ``c = 1`` this is sa1d; with the ``block`` partition it is 1.5D with a halo instead of
whole blocks. Each process stores only its stages' columns, ``1/P`` of ``A`` on average.

**Graph attention.** The features and the source scores travel together in the team's
exchange. A destination's in-edges are spread over the replicas (each has the sources of
its stages), so the softmax's max and sum are all-reduced over ``(i, *)``; the weighted
product's partial sums are all-reduced as in the aggregation. The backward pass is written
by hand (one Function), so that every process issues the same collectives whatever it stores.

Shapes: ``X`` is ``(|B[i]|, f)`` on process ``(i, r)``; the compact block is
``(|B[i]|, |B[i]| + halo)``; edge weights are ``(nnz, K)`` for ``K`` heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.algorithms import block_attention as attn
from pargnn.algorithms.block_attention import AttentionStep
from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.one_five_d.dense import ReplicatedDenseSteps
from pargnn.algorithms.prepare import BuildOptions, PreparedGraph, rows_data, shared_partition
from pargnn.algorithms.sparsity_aware.halo import (
    Halo,
    compact_state_bytes,
    find_halo,
    return_halo,
    send_halo,
)
from pargnn.dist import phases
from pargnn.dist.comm import Communicator
from pargnn.layout.mesh import ProcessGrid
from pargnn.layout.places import ReplicatedPlace
from pargnn.layout.spec import GridSpec
from pargnn.ops.blocks import SparseBlock
from pargnn.ops.sparse import SparseOperator


def stage_columns(at_rows: sp.csr_array, place: ReplicatedPlace) -> sp.csr_array:
    """``at_rows`` with only the columns of this replica's stages (contiguous parts)."""
    stages = place.stages()
    lo, hi = place.block(stages[0])[0], place.block(stages[-1])[1]
    coo = at_rows.tocoo()
    keep = (coo.col >= lo) & (coo.col < hi)
    kept = sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=at_rows.shape)
    kept.sort_indices()
    return kept


def plan_replicated_halo(place: ReplicatedPlace, at_rows: sp.csr_array
                         ) -> tuple[Halo, sp.csr_array, np.ndarray]:
    """This process's halo within its team and its stages' block of ``A^T`` over compact
    columns (see :func:`~pargnn.algorithms.sparsity_aware.halo.find_halo`).

    Args:
        at_rows: rows ``B[i]`` of ``A^T`` (partition order) with all ``n`` columns.
    """
    offsets = np.array([place.block(b)[0] for b in range(place.teams)] + [place.n])
    return find_halo(place.comm, stage_columns(at_rows, place), offsets, place.i,
                     place.grid.group("row"), place.device)


@dataclass(frozen=True)
class _Stages:
    """What the Functions below need of a :class:`SparsityAware15D`."""

    place: ReplicatedPlace
    halo: Halo
    operator: SparseOperator


def _sum_replicas(stages: _Stages, x: Tensor) -> None:
    place = stages.place
    place.comm.all_reduce(x, place.grid.group("rep"), place.replication)


class _HaloStages(torch.autograd.Function):
    """``Y[B[i]] = sum_r A^T[B[i], stages r] X`` by team halo exchange and replica sum."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, stages: _Stages) -> Tensor:
        ctx.stages, ctx.rows = stages, x.shape[0]
        comm = stages.place.comm
        with comm.log.phase(phases.FORWARD_AGGREGATION):
            extended = send_halo(x, stages.halo, comm)
            out = torch.sparse.mm(stages.operator.at, extended)
            _sum_replicas(stages, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None
        stages: _Stages = ctx.stages
        comm = stages.place.comm
        with comm.log.phase(phases.BACKWARD_AGGREGATION):
            extended = torch.sparse.mm(stages.operator.a, grad.contiguous())
            own = return_halo(extended, ctx.rows, stages.halo, comm)
            _sum_replicas(stages, own)
        return own, None


@dataclass(frozen=True)
class _AttentionInputs:
    stages: _Stages
    block: SparseBlock
    edges: attn.StoredEdges
    groups: attn.ScoreGroups
    step: AttentionStep


class _HaloAttention(torch.autograd.Function):
    """``Z = S(alpha) G`` per head in the sa1.5d layout, ``alpha`` from the scores."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, s_src: Tensor, s_dst: Tensor,
                inputs: _AttentionInputs) -> Tensor:
        stages, step = inputs.stages, inputs.step
        comm, width = stages.place.comm, g.shape[1]
        with comm.log.phase(phases.FORWARD_ATTENTION):
            extended = send_halo(torch.cat([g, s_src], dim=1), stages.halo, comm)
            g_ext, src_ext = extended[:, :width], extended[:, width:]
            alphas, saved = attn.edge_weights(inputs.groups, [inputs.edges], src_ext, s_dst,
                                         step.negative_slope, step.dropout, step.key)
        spans = attn.head_spans((0, width), step.head_width)
        out = torch.zeros_like(g)
        with comm.log.phase(phases.FORWARD_AGGREGATION):
            attn.stage_product(inputs.block, alphas[0].contiguous(), g_ext, spans, out)
            _sum_replicas(stages, out)
        ctx.save_for_backward(g_ext, src_ext, s_dst, alphas[0])
        ctx.inputs, ctx.saved, ctx.spans, ctx.rows = inputs, saved, spans, g.shape[0]
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        g_ext, src_ext, s_dst, alpha = ctx.saved_tensors
        inputs: _AttentionInputs = ctx.inputs
        stages, step = inputs.stages, inputs.step
        comm, width = stages.place.comm, g_ext.shape[1]
        grad = grad.contiguous()
        with comm.log.phase(phases.BACKWARD_AGGREGATION):
            grad_alpha = attn.stage_weight_grad(inputs.block, grad, g_ext, ctx.spans, step.heads)
            grad_g_ext = attn.stage_transposed_product(inputs.block, alpha.contiguous(), grad,
                                                  ctx.spans)
        with comm.log.phase(phases.BACKWARD_ATTENTION):
            grad_src_ext, grad_dst = attn.edge_weights_backward(
                inputs.groups, [inputs.edges], ctx.saved, [grad_alpha], src_ext, s_dst,
                step.negative_slope)
            own = return_halo(torch.cat([grad_g_ext, grad_src_ext], dim=1), ctx.rows,
                              stages.halo, comm)
        grad_g = own[:, :width].contiguous()
        with comm.log.phase(phases.BACKWARD_AGGREGATION):
            _sum_replicas(stages, grad_g)
        # the scores' gradients stay per replica: head_scores sums them over the replicas
        return grad_g, own[:, width:].contiguous(), grad_dst, None


class SparsityAware15D(ReplicatedDenseSteps):
    """The :class:`~pargnn.algorithms.contract.Algorithm` of sparsity-aware 1.5D.

    Args:
        place: a ``R x c`` replicated place whose offsets are the partition's.
        halo, compact, positions: from :func:`plan_replicated_halo`.
        data, num_classes, global_counts, original_ids: as
            :class:`~pargnn.algorithms.one_five_d.dense.ReplicatedDenseSteps`.
    """

    def __init__(self, place: ReplicatedPlace, halo: Halo, compact: sp.csr_array,
                 positions: np.ndarray, data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        super().__init__(place, data, num_classes, global_counts, original_ids)
        self.positions = positions
        self._compact = compact
        # spmm by op.at computes compact @ x: ``a`` is the compact block's transpose
        operator = SparseOperator.from_scipy(sp.csr_array(compact.T), place.dtype, place.device)
        self.stages = _Stages(place, halo, operator)

    @property
    def halo(self) -> Halo:
        return self.stages.halo

    def aggregate(self, h: Tensor) -> Tensor:
        result: Tensor = _HaloStages.apply(h, self.stages)
        return result

    @cached_property
    def attention_block(self) -> tuple[SparseBlock, attn.StoredEdges]:
        """The compact block with its edges and dropout keys (built on the first attention
        step)."""
        place = self.place
        block = SparseBlock.from_scipy(self._compact, place.dtype, place.device)
        ids = attn.vertex_ids(self.original_ids, 0, place.n, place.device)
        sources = ids[torch.from_numpy(self.positions).to(place.device)]
        return block, attn.store_edges(block, self._data.row_ids, sources, place.n, 0)

    def score_groups(self, halo_rows: int) -> attn.ScoreGroups:
        """Scores are local after the exchange; the softmax spans the replicas."""
        place, rows = self.place, int(self._data.row_ids.shape[0])
        return attn.ScoreGroups(place.comm, None, (rows + halo_rows,), 0, None, (rows,), 0,
                           place.grid.group("rep"), place.replication)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        block, edges = self.attention_block
        inputs = _AttentionInputs(self.stages, block, edges, self.score_groups(self.halo.rows),
                                  AttentionStep(heads, head_width, negative_slope, dropout, key))
        result: Tensor = _HaloAttention.apply(h, s_src, s_dst, inputs)
        return result

    @property
    def local_nnz(self) -> int:
        return self.stages.operator.nnz

    def stored_bytes(self) -> int:
        """Its block (both orientations), the halo's send list and its vertex data."""
        return compact_state_bytes(self.stages.operator, self.halo, self._data)


def build_sparsity_aware_replicated(prepared: PreparedGraph, spec: GridSpec,
                                    options: BuildOptions, comm: Communicator
                                    ) -> SparsityAware15D:
    """This rank's :class:`SparsityAware15D`: partition into ``P / c`` parts, reorder, find
    the halo of its stages within its team."""
    partition = shared_partition(prepared, options, spec.shape[0], comm)
    ordered = prepared.reordered(partition.order)
    offsets = tuple(int(o) for o in partition.offsets)
    place = ReplicatedPlace(ProcessGrid(spec, options.device.type), comm, prepared.n,
                            options.device, options.dtype, offsets)
    lo, hi = place.rows
    halo, compact, positions = plan_replicated_halo(place, sp.csr_array(ordered.at[lo:hi]))
    data = rows_data(ordered, place.rows, place.cols(ordered.features.shape[1]), options)
    return SparsityAware15D(place, halo, compact, positions, data=data,
                            num_classes=ordered.num_classes,
                            global_counts=ordered.split_counts(),
                            original_ids=ordered.reordered_ids)
