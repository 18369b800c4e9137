"""Graph attention in CAGNET's 1.5D layout.

Layout as in :mod:`pargnn.algorithms.one_five_d.spmm`: process ``(i, r)`` holds block row
``B[i]`` of
``G = H W`` with every column, and stores the blocks ``S[B[i], B[s]]`` of ``A^T`` for its
stages ``s``; the replicas ``(i, *)`` share the stages of block row ``i`` among them. So:

1. **Scores** are local (features are not split). Every replica holds them whole but uses
   them for its own stages' edges, so their gradients are summed over the replicas.
2. **Edge weights.** The owner of ``S[B[i], B[s]]`` needs ``s_src[B[s]]``: ``s_src`` is
   all-gathered within the team ``(*, r)``. A destination's in-edges are spread over the
   replicas, so the softmax's max and sum are all-reduced over ``(i, *)``.
3. **Aggregation** as :func:`~pargnn.algorithms.one_five_d.spmm.replicated_spmm`, with each stored
   block's weights ``(nnz, K)`` per head: ``G[B[s]]`` broadcast within the team, the
   replicas' partial sums all-reduced.

Backward, by hand as on the grid (:mod:`pargnn.algorithms.grid.attention`): for each stage
``G[B[s]]`` is broadcast again; the owner computes ``dalpha`` of its block locally (it has every
column) and its partial ``S^T dZ``, which is reduced within the team to ``(s, r)``; an
all-reduce over the replicas then gives every replica the whole ``dG`` (only the replica whose
stages include ``i`` received a non-zero sum). The softmax's backward all-reduces over the
replicas, the gather of ``s_src`` becomes a reduce-scatter in the team.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from pargnn.algorithms.block_attention import (
    ScoreGroups,
    StoredEdges,
    edge_weights,
    edge_weights_backward,
    head_spans,
    stage_product,
    stage_transposed_product,
    stage_weight_grad,
    store_edges,
    vertex_ids,
)
from pargnn.algorithms.grid.attention import AttentionStep
from pargnn.dist.phases import (
    BACKWARD_AGGREGATION,
    BACKWARD_ATTENTION,
    FORWARD_AGGREGATION,
    FORWARD_ATTENTION,
)
from pargnn.layout.places import ReplicatedPlace
from pargnn.ops.blocks import SparseBlock


def replicated_stored_edges(place: ReplicatedPlace, blocks: dict[int, SparseBlock],
                            original_ids: np.ndarray | None) -> list[tuple[int, StoredEdges]]:
    """Per stage block of ``A^T`` this process stores: its edges, dropout keys and where its
    sources start (the gathered source scores cover every vertex)."""
    destinations = vertex_ids(original_ids, *place.rows, place.device)
    out = []
    for s in sorted(blocks):
        lo, hi = place.block(s)
        sources = vertex_ids(original_ids, lo, hi, place.device)
        out.append((s, store_edges(blocks[s], destinations, sources, place.n, lo)))
    return out


def score_groups(place: ReplicatedPlace) -> ScoreGroups:
    grid = place.grid
    sizes = tuple(place.block(b)[1] - place.block(b)[0] for b in range(place.teams))
    rows = place.rows[1] - place.rows[0]
    return ScoreGroups(place.comm, grid.group("row"), sizes, place.i,
                       None, (rows,), 0, grid.group("rep"), place.replication)


def replicated_attend(place: ReplicatedPlace, blocks: dict[int, SparseBlock],
                      stored: list[tuple[int, StoredEdges]], g: Tensor, s_src: Tensor,
                      s_dst: Tensor, step: AttentionStep) -> Tensor:
    """Steps 2 and 3: ``Z[B[i]]`` with every column."""
    result: Tensor = _ReplicatedAttention.apply(g, s_src, s_dst, place, blocks, stored, step)
    return result


def _team_stage(place: ReplicatedPlace, x: Tensor, s: int) -> Tensor:
    """``X[B[s]]``, broadcast within the team from ``(s, r)``."""
    lo, hi = place.block(s)
    xs = x if s == place.i else x.new_empty(hi - lo, x.shape[1])
    place.comm.broadcast(xs, place.grid.global_rank(row=s), place.grid.group("row"), place.teams)
    return xs


class _ReplicatedAttention(torch.autograd.Function):
    """``Z = S(alpha) G`` per head, ``alpha`` from the scores, in the 1.5D layout."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, s_src: Tensor, s_dst: Tensor, place: ReplicatedPlace,
                blocks: dict[int, SparseBlock], stored: list[tuple[int, StoredEdges]],
                step: AttentionStep) -> Tensor:
        comm = place.comm
        groups = score_groups(place)
        with comm.log.phase(FORWARD_ATTENTION):
            alphas, saved = edge_weights(groups, [e for _, e in stored], s_src, s_dst,
                                         step.negative_slope, step.dropout, step.key)
        spans = head_spans((0, step.heads * step.head_width), step.head_width)
        out = torch.zeros_like(g)
        with comm.log.phase(FORWARD_AGGREGATION):
            for (s, _), alpha in zip(stored, alphas, strict=True):
                stage_product(blocks[s], alpha.contiguous(), _team_stage(place, g, s), spans, out)
            comm.all_reduce(out, place.grid.group("rep"), place.replication)
        ctx.save_for_backward(g, s_src, s_dst)
        ctx.place, ctx.blocks, ctx.stored, ctx.step, ctx.spans = place, blocks, stored, step, spans
        ctx.groups, ctx.alphas, ctx.saved = groups, alphas, saved
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        g, s_src, s_dst = ctx.saved_tensors
        place: ReplicatedPlace = ctx.place
        step: AttentionStep = ctx.step
        grid, comm = place.grid, place.comm
        grad = grad.contiguous()
        grad_g = torch.zeros_like(g)
        grad_alphas = []
        with comm.log.phase(BACKWARD_AGGREGATION):
            for (s, _), alpha in zip(ctx.stored, ctx.alphas, strict=True):
                block = ctx.blocks[s]
                xs = _team_stage(place, g, s)
                grad_alphas.append(stage_weight_grad(block, grad, xs, ctx.spans, step.heads))
                part = stage_transposed_product(block, alpha.contiguous(), grad, ctx.spans)
                comm.reduce(part, grid.global_rank(row=s), grid.group("row"), place.teams)
                if s == place.i:
                    grad_g = part
            comm.all_reduce(grad_g, grid.group("rep"), place.replication)
        with comm.log.phase(BACKWARD_ATTENTION):
            grad_src, grad_dst = edge_weights_backward(
                ctx.groups, [e for _, e in ctx.stored], ctx.saved, grad_alphas, s_src, s_dst,
                step.negative_slope)
        return grad_g, grad_src, grad_dst, None, None, None, None
