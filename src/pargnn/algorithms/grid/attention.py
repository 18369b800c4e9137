"""Graph attention on a ``Pr x Pc x Pl`` grid (1D, 2D and 3D).

Layout as in :mod:`pargnn.algorithms.grid.summa`: process ``(i, j, l)`` holds rows
``B[i, l]`` and columns
``F[j]`` of ``G = H W`` (``K`` heads of ``f'`` columns, concatenated), and stores the blocks
``S[V[i], B[s, l]]`` of ``A^T`` for the stages ``s = j mod Pc``. One attention step:

1. **Scores.** ``s_src = <a_l, g>`` and ``s_dst = <a_r, g>`` per vertex and head are partial
   dot products over ``F[j]``, all-reduced along the grid row ``(i, *, l)``.
2. **Edge weights, where the block is stored.** The owner of ``S[V[i], B[s, l]]`` needs
   ``s_src[B[s, l]]`` and ``s_dst[V[i]]``: ``s_src`` is all-gathered along the grid column
   ``(*, j, l)`` (the slab of layer ``l``) and ``s_dst`` along the layers ``(i, j, *)``. A
   destination's in-edges are spread over every process of ``(i, *, *)``, so the softmax's
   max and sum are all-reduced over that group. Attention dropout is keyed by the global edge.
3. **Aggregation.** The SUMMA of :func:`~pargnn.algorithms.grid.summa.summa_spmm` with the attention
   weights ``(nnz, K)`` as the values of the broadcast blocks, one sparse product per head
   span of ``F[j]``, then the reduction across layers.

Backward, written by hand for steps 2 and 3 so that every process issues the same collectives
in the same order whatever blocks it stores: ``dZ`` is all-gathered across the layers; for
each stage the weighted block and ``G[B[s, l], F[j]]`` are broadcast again, each process
computes its partial ``dalpha`` (dot products over its columns) and its partial ``S^T dZ``, and
they are reduced, ``dalpha`` to the block's owner along the grid row and ``dG`` to
``(s, j, l)`` along the grid column. The softmax's backward needs one more all-reduce over
``(i, *, *)``; the gathers of step 2 become reduce-scatters; step 1's all-reduce of the score
gradients along the grid row completes them.

With ``Pc = Pl = 1`` (1D) the weighted blocks never move: only the dense blocks, the source
scores and the gradients' reductions do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pargnn.algorithms import block_attention as attn
from pargnn.algorithms.block_attention import AttentionStep
from pargnn.algorithms.grid.summa import Operator, reduce_layers
from pargnn.dist import phases
from pargnn.dist.comm import Communicator
from pargnn.dist.differentiable import all_gather_rows, all_reduce_sum, sum_gradient
from pargnn.layout.places import GridPlace
from pargnn.ops.blocks import SparseBlock


def stored_edges(place: GridPlace, op: Operator, original_ids: np.ndarray | None
                 ) -> list[tuple[int, attn.StoredEdges]]:
    """Per stored block of ``A^T`` (by stage): its edges, dropout keys and source offset in
    the slab of layer ``l``."""
    lay = place.layout
    destinations = attn.vertex_ids(original_ids, *lay.grid_row(place.i), place.device)
    out = []
    for s in sorted(op.owned):
        sources = attn.vertex_ids(original_ids, *lay.block(s, place.layer), place.device)
        offset = sum(lay.block_size(k, place.layer) for k in range(s))
        out.append((s, attn.store_edges(op.owned[s], destinations, sources, lay.n, offset)))
    return out


def grid_head_scores(place: GridPlace, h: Tensor, attention: Tensor) -> Tensor:
    """Full per-head scores of rows ``B[i, l]`` from the partial dot products over ``F[j]``
    (step 1); the attention vector's gradient is summed over the grid."""
    comm, grid = place.comm, place.grid
    heads, width = attention.shape
    shared = sum_gradient(attention, comm, None, grid.spec.size, phases.BACKWARD_ATTENTION)
    with comm.log.phase(phases.FORWARD_ATTENTION):
        partial = attn.partial_head_scores(h, shared, place.cols(heads * width))
        return all_reduce_sum(partial, comm, grid.group("col"), place.layout.cols,
                              phases.BACKWARD_ATTENTION)


def score_groups(place: GridPlace) -> attn.ScoreGroups:
    lay, grid = place.layout, place.grid
    peers, peer_count = grid.peers()
    return attn.ScoreGroups(
        place.comm,
        grid.group("row"), tuple(lay.block_size(s, place.layer) for s in range(lay.rows)),
        place.i,
        grid.group("layer"), tuple(lay.block_size(place.i, k) for k in range(lay.layers)),
        place.layer,
        peers, peer_count)


def grid_attend(place: GridPlace, op: Operator, stored: list[tuple[int, attn.StoredEdges]],
                g: Tensor, s_src: Tensor, s_dst: Tensor, step: AttentionStep) -> Tensor:
    """Steps 2 and 3 of the module docstring: ``Z[B[i, l], F[j]]``."""
    result: Tensor = _GridAttention.apply(g, s_src, s_dst, place, op, stored, step)
    return result


def _weighted_stage(place: GridPlace, op: Operator, s: int, weights: Tensor | None,
                    heads: int) -> tuple[SparseBlock, Tensor]:
    """Stage ``s``'s block of ``S`` and its ``(nnz, K)`` weights, broadcast along the grid row
    from the process that stores it."""
    lay, grid, comm = place.layout, place.grid, place.comm
    owner = s % lay.cols
    if owner == place.j:
        assert weights is not None
        block, values = op.owned[s], weights.contiguous()
    else:
        v_lo, v_hi = lay.grid_row(place.i)
        block = SparseBlock.empty_like_shape(v_hi - v_lo, lay.block_size(s, place.layer),
                                             op.nnz[s], op.index_dtype, place.dtype,
                                             place.device)
        values = torch.empty(op.nnz[s], heads, dtype=place.dtype, device=place.device)
    source = grid.global_rank(col=owner)
    comm.broadcast(block.indices, source, grid.group("col"), lay.cols)
    comm.broadcast(values, source, grid.group("col"), lay.cols)
    return block, values


def _dense_stage(place: GridPlace, x: Tensor, s: int) -> Tensor:
    """``X[B[s, l], F[j]]``, broadcast along the grid column from ``(s, j, l)``."""
    lay, grid = place.layout, place.grid
    xs = x if s == place.i else x.new_empty(lay.block_size(s, place.layer), x.shape[1])
    place.comm.broadcast(xs, grid.global_rank(row=s), grid.group("row"), lay.rows)
    return xs


@dataclass(frozen=True)
class _Saved:
    """What the backward pass of :class:`_GridAttention` needs besides its tensors."""

    place: GridPlace
    op: Operator
    stored: list[tuple[int, attn.StoredEdges]]
    step: AttentionStep
    spans: list[attn.Span]
    groups: attn.ScoreGroups
    weights: dict[int, Tensor]
    saved: attn.SavedWeights

    @property
    def comm(self) -> Communicator:
        return self.place.comm

    def stage_gradients(self, g: Tensor, grad: Tensor) -> tuple[Tensor, list[Tensor]]:
        """For each stage the weighted block and ``G[B[s, l], F[j]]`` again; the partial
        ``dalpha`` reduced to the block's owner along the grid row, the partial ``S^T dZ``
        to ``(s, j, l)`` along the grid column."""
        place, heads = self.place, self.step.heads
        lay, grid, comm = place.layout, place.grid, place.comm
        sizes = tuple(lay.block_size(place.i, k) for k in range(lay.layers))
        dz = all_gather_rows(comm, grad, grid.group("layer"), sizes)
        grad_weights: dict[int, Tensor] = {}
        grad_g = torch.zeros_like(g)
        for s in range(lay.rows):
            block, values = _weighted_stage(place, self.op, s, self.weights.get(s), heads)
            partial = attn.stage_weight_grad(block, dz, _dense_stage(place, g, s), self.spans,
                                             heads)
            comm.reduce(partial, grid.global_rank(col=s % lay.cols), grid.group("col"),
                        lay.cols)
            if s in self.weights:
                grad_weights[s] = partial
            part = attn.stage_transposed_product(block, values, dz, self.spans)
            comm.reduce(part, grid.global_rank(row=s), grid.group("row"), lay.rows)
            if s == place.i:
                grad_g = part
        return grad_g, [grad_weights[s] for s, _ in self.stored]


class _GridAttention(attn.StagedAttention):
    """``Z = S(alpha) G`` per head, ``alpha`` from the scores, on the grid (the backward
    pass is :class:`~pargnn.algorithms.block_attention.StagedAttention`'s)."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, s_src: Tensor, s_dst: Tensor, place: GridPlace,
                op: Operator, stored: list[tuple[int, attn.StoredEdges]], step: AttentionStep
                ) -> Tensor:
        lay, comm = place.layout, place.comm
        groups = score_groups(place)
        with comm.log.phase(phases.FORWARD_ATTENTION):
            alphas, saved = attn.edge_weights(groups, [e for _, e in stored], s_src, s_dst,
                                              step.negative_slope, step.dropout, step.key)
        weights = {s: a for (s, _), a in zip(stored, alphas, strict=True)}
        spans = attn.head_spans(place.cols(step.heads * step.head_width), step.head_width)
        v_lo, v_hi = lay.grid_row(place.i)
        out = g.new_zeros(v_hi - v_lo, g.shape[1])
        with comm.log.phase(phases.FORWARD_AGGREGATION):
            for s in range(lay.rows):
                block, values = _weighted_stage(place, op, s, weights.get(s), step.heads)
                attn.stage_product(block, values, _dense_stage(place, g, s), spans, out)
            z = reduce_layers(place, out)
        ctx.save_for_backward(g, s_src, s_dst)
        ctx.state = _Saved(place, op, stored, step, spans, groups, weights, saved)
        return z
