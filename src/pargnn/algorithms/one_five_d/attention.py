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

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pargnn.algorithms import block_attention as attn
from pargnn.algorithms.block_attention import AttentionStep
from pargnn.dist import phases
from pargnn.dist.comm import Communicator
from pargnn.layout.places import ReplicatedPlace
from pargnn.ops.blocks import SparseBlock


def replicated_stored_edges(place: ReplicatedPlace, blocks: dict[int, SparseBlock],
                            original_ids: np.ndarray | None) -> list[tuple[int, attn.StoredEdges]]:
    """Per stage block of ``A^T`` this process stores: its edges, dropout keys and where its
    sources start (the gathered source scores cover every vertex)."""
    destinations = attn.vertex_ids(original_ids, *place.rows, place.device)
    out = []
    for s in sorted(blocks):
        lo, hi = place.block(s)
        sources = attn.vertex_ids(original_ids, lo, hi, place.device)
        out.append((s, attn.store_edges(blocks[s], destinations, sources, place.n, lo)))
    return out


def score_groups(place: ReplicatedPlace) -> attn.ScoreGroups:
    grid = place.grid
    sizes = tuple(place.block(b)[1] - place.block(b)[0] for b in range(place.teams))
    rows = place.rows[1] - place.rows[0]
    return attn.ScoreGroups(place.comm, grid.group("row"), sizes, place.i,
                       None, (rows,), 0, grid.group("rep"), place.replication)


def replicated_attend(place: ReplicatedPlace, blocks: dict[int, SparseBlock],
                      stored: list[tuple[int, attn.StoredEdges]], g: Tensor, s_src: Tensor,
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


@dataclass(frozen=True)
class _Saved:
    """What the backward pass of :class:`_ReplicatedAttention` needs besides its tensors."""

    place: ReplicatedPlace
    blocks: dict[int, SparseBlock]
    stored: list[tuple[int, attn.StoredEdges]]
    step: AttentionStep
    spans: list[attn.Span]
    groups: attn.ScoreGroups
    alphas: list[Tensor]
    saved: attn.SavedWeights

    @property
    def comm(self) -> Communicator:
        return self.place.comm

    def stage_gradients(self, g: Tensor, grad: Tensor) -> tuple[Tensor, list[Tensor]]:
        """For each stage ``G[B[s]]`` again, ``dalpha`` locally, the partial ``S^T dZ``
        reduced within the team to ``(s, r)``; then ``dG`` summed over the replicas (only
        the one whose stages include ``i`` received a non-zero sum)."""
        place, heads = self.place, self.step.heads
        grid, comm = place.grid, place.comm
        grad_g = torch.zeros_like(g)
        grad_alphas = []
        for (s, _), alpha in zip(self.stored, self.alphas, strict=True):
            block = self.blocks[s]
            xs = _team_stage(place, g, s)
            grad_alphas.append(attn.stage_weight_grad(block, grad, xs, self.spans, heads))
            part = attn.stage_transposed_product(block, alpha.contiguous(), grad, self.spans)
            comm.reduce(part, grid.global_rank(row=s), grid.group("row"), place.teams)
            if s == place.i:
                grad_g = part
        comm.all_reduce(grad_g, grid.group("rep"), place.replication)
        return grad_g, grad_alphas


class _ReplicatedAttention(attn.StagedAttention):
    """``Z = S(alpha) G`` per head, ``alpha`` from the scores, in the 1.5D layout (the
    backward pass is :class:`~pargnn.algorithms.block_attention.StagedAttention`'s)."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, s_src: Tensor, s_dst: Tensor, place: ReplicatedPlace,
                blocks: dict[int, SparseBlock], stored: list[tuple[int, attn.StoredEdges]],
                step: AttentionStep) -> Tensor:
        comm = place.comm
        groups = score_groups(place)
        with comm.log.phase(phases.FORWARD_ATTENTION):
            alphas, saved = attn.edge_weights(groups, [e for _, e in stored], s_src, s_dst,
                                              step.negative_slope, step.dropout, step.key)
        spans = attn.head_spans((0, step.heads * step.head_width), step.head_width)
        out = torch.zeros_like(g)
        with comm.log.phase(phases.FORWARD_AGGREGATION):
            for (s, _), alpha in zip(stored, alphas, strict=True):
                xs = _team_stage(place, g, s)
                attn.stage_product(blocks[s], alpha.contiguous(), xs, spans, out)
            comm.all_reduce(out, place.grid.group("rep"), place.replication)
        ctx.save_for_backward(g, s_src, s_dst)
        ctx.state = _Saved(place, blocks, stored, step, spans, groups, alphas, saved)
        return out
