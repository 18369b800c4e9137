"""The local arithmetic of distributed graph attention: per-block, per-head kernels.

A distributed algorithm splits ``A^T`` into blocks ``S[V, B_s]`` (destinations ``V``, sources
``B_s``) and the feature columns of ``G = H W`` into slices ``F[j]``. Attention then needs, on
each process:

* the partial per-head dot products ``<a_k, g_v>`` over its own columns
  (:func:`partial_head_scores`; the algorithm sums them over the column slices);
* on the process that stores a block, the softmax of its edges' scores. A destination's
  in-edges may lie in blocks held by other processes, so :func:`block_softmax` takes each
  destination's max and sum over the group of those processes (max-subtraction first, so it
  stays finite);
* for each SUMMA stage, the product of the block with per-head weights and a dense block
  (:func:`stage_product`), its transpose (:func:`stage_transposed_product`) and the sampled
  product that gives the weights' gradient (:func:`stage_weight_grad`).

A column slice ``F[j]`` need not cover whole heads: :func:`head_spans` lists the part of each
head it holds, and the stage kernels loop over those spans, one sparse product per span.

Shapes: a block has ``nnz`` edges in CSR order (destination-major); per-edge weights are
``(nnz, K)`` for ``K`` heads; dense blocks are ``(vertices, w)`` for the ``w`` local columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.dist import phases
from pargnn.dist.comm import Communicator, ProcessGroup
from pargnn.dist.differentiable import all_gather_rows, reduce_scatter_rows
from pargnn.ops.attention import EdgeStructure
from pargnn.ops.blocks import SparseBlock
from pargnn.ops.dropout import keyed_dropout

Span = tuple[int, int, int]  # (head, first local column, end local column)


def head_spans(columns: tuple[int, int], head_width: int) -> list[Span]:
    """The part of every head that the global columns ``[lo, hi)`` hold, in local columns."""
    lo, hi = columns
    spans = []
    for head in range(lo // head_width, -(-hi // head_width)):
        start, end = max(lo, head * head_width), min(hi, (head + 1) * head_width)
        if end > start:
            spans.append((head, start - lo, end - lo))
    return spans


def partial_head_scores(h: Tensor, attention: Tensor, columns: tuple[int, int]) -> Tensor:
    """``sum_{c in [lo, hi), head(c) = k} h[:, c] attention_flat[c]``: ``(rows, K)`` from the
    local columns ``h`` ``(rows, hi - lo)`` of a ``K f'``-wide matrix and ``attention``
    ``(K, f')``. Differentiable."""
    lo, hi = columns
    heads, width = attention.shape
    head_of = torch.arange(lo, hi, device=h.device) // width
    products = h * attention.reshape(-1)[lo:hi]
    return h.new_zeros(h.shape[0], heads).index_add(1, head_of, products)


@dataclass(frozen=True)
class StoredEdges:
    """One stored block's edges, their global keys (attention dropout) and where its sources
    start among the gathered source scores."""

    edges: EdgeStructure
    codes: Tensor
    source_offset: int


def vertex_ids(original_ids: np.ndarray | None, lo: int, hi: int,
               device: torch.device) -> Tensor:
    """Original ids of the vertices at positions ``[lo, hi)`` (``None``: not reordered)."""
    if original_ids is None:
        return torch.arange(lo, hi, device=device)
    return torch.from_numpy(np.ascontiguousarray(original_ids[lo:hi])).to(device, torch.int64)


def edge_codes(edges: EdgeStructure, destination_ids: Tensor, source_ids: Tensor,
               n: int) -> Tensor:
    """The global key ``original(dst) n + original(src)`` of every edge (attention dropout)."""
    return destination_ids[edges.dst] * n + source_ids[edges.src]


def store_edges(block: SparseBlock, destination_ids: Tensor, source_ids: Tensor, n: int,
                source_offset: int) -> StoredEdges:
    """A stored block's edges (destination-major, as its CSR) with their dropout keys."""
    edges = EdgeStructure.from_csr(block.crow, block.col, block.cols)
    return StoredEdges(edges, edge_codes(edges, destination_ids, source_ids, n), source_offset)


@dataclass(frozen=True)
class ScoreGroups:
    """The collectives of the edge weights.

    ``s_src`` rows are all-gathered over ``source`` (member ``k`` holds ``source_sizes[k]``
    rows; this process is ``source_position``), ``s_dst`` rows over ``destination``, and a
    destination's in-edges are spread over the ``peer_count`` processes of ``peers``.
    """

    comm: Communicator
    source: ProcessGroup | None
    source_sizes: tuple[int, ...]
    source_position: int
    destination: ProcessGroup | None
    destination_sizes: tuple[int, ...]
    destination_position: int
    peers: ProcessGroup | None
    peer_count: int


@dataclass
class SavedWeights:
    """What the backward pass of :func:`edge_weights` needs, per stored block."""

    raw: list[Tensor]  # s_src[u] + s_dst[v] before the LeakyReLU
    alphas: list[Tensor]  # the softmax, before dropout
    masks: list[Tensor | None]  # dropout's scaled keep mask


def edge_weights(groups: ScoreGroups, stored: Sequence[StoredEdges], s_src: Tensor,
                 s_dst: Tensor, negative_slope: float, dropout: float, key: int
                 ) -> tuple[list[Tensor], SavedWeights]:
    """Attention weights ``(nnz_b, K)`` of the edges of this process's stored blocks.

    ``alpha_e = exp(e_e - m_v) / sum_{e' into v} exp(e_e' - m_v)`` with
    ``e = LeakyReLU(s_src[u] + s_dst[v])`` for the edge ``e = u -> v``; the max ``m_v`` and the
    sum run over every in-edge of ``v``, on all the peers (two all-reduces). Then attention
    dropout keyed by the global edge. ``s_src`` and ``s_dst`` are this process's rows.
    """
    comm = groups.comm
    sources = all_gather_rows(comm, s_src, groups.source, groups.source_sizes)
    destinations = all_gather_rows(comm, s_dst, groups.destination, groups.destination_sizes)
    raw = [sources[b.source_offset + b.edges.src] + destinations[b.edges.dst] for b in stored]
    scores = [F.leaky_relu(r, negative_slope) for r in raw]
    peak = torch.full_like(destinations, float("-inf"))
    for b, score in zip(stored, scores, strict=True):
        if b.edges.nnz:
            torch.maximum(peak, b.edges.segment(score, "max"), out=peak)
    comm.all_reduce(peak, groups.peers, groups.peer_count, maximum=True)
    exps = [torch.exp(score - peak[b.edges.dst]) for b, score in zip(stored, scores,
                                                                       strict=True)]
    total = _per_destination(stored, exps, destinations)
    comm.all_reduce(total, groups.peers, groups.peer_count)
    alphas = [ex / total[b.edges.dst] for b, ex in zip(stored, exps, strict=True)]
    masks: list[Tensor | None] = [
        keyed_dropout(torch.ones_like(a), dropout, key, b.codes,
                      torch.arange(a.shape[1], device=a.device))
        if dropout > 0 and a.numel() else None for b, a in zip(stored, alphas, strict=True)]
    dropped = [a if m is None else a * m for a, m in zip(alphas, masks, strict=True)]
    return dropped, SavedWeights(raw, alphas, masks)


def edge_weights_backward(groups: ScoreGroups, stored: Sequence[StoredEdges],
                          saved: SavedWeights, grads: Sequence[Tensor], s_src: Tensor,
                          s_dst: Tensor, negative_slope: float) -> tuple[Tensor, Tensor]:
    """Gradients of this process's ``s_src`` and ``s_dst`` rows from the weights' gradients.

    Softmax: ``de_e = alpha_e (g_e - sum_{e' into v} alpha_e' g_e')``, the sum all-reduced over
    the peers; then the LeakyReLU, and each edge's gradient goes to its source and its
    destination; the gathers' adjoints (reduce-scatters) hand each process its own rows.
    """
    comm = groups.comm
    dalphas = [g if m is None else g * m for g, m in zip(grads, saved.masks, strict=True)]
    weighted = [a * d for a, d in zip(saved.alphas, dalphas, strict=True)]
    shape = (sum(groups.destination_sizes), s_dst.shape[1])
    inner = _per_destination(stored, weighted, s_dst.new_zeros(shape))
    comm.all_reduce(inner, groups.peers, groups.peer_count)
    grad_sources = s_src.new_zeros(sum(groups.source_sizes), s_src.shape[1])
    grad_destinations = s_dst.new_zeros(shape)
    for b, a, w, r in zip(stored, saved.alphas, weighted, saved.raw, strict=True):
        if b.edges.nnz == 0:
            continue
        de = w - a * inner[b.edges.dst]
        draw = torch.where(r > 0, de, de * negative_slope)
        grad_sources.index_add_(0, b.source_offset + b.edges.src, draw)
        grad_destinations.index_add_(0, b.edges.dst, draw)
    return (reduce_scatter_rows(comm, grad_sources, groups.source, groups.source_sizes,
                                 groups.source_position),
            reduce_scatter_rows(comm, grad_destinations, groups.destination,
                                 groups.destination_sizes, groups.destination_position))


def _per_destination(stored: Sequence[StoredEdges], values: Sequence[Tensor],
                     like: Tensor) -> Tensor:
    """``sum`` of edge values per destination over every stored block: ``like``'s shape."""
    out = torch.zeros_like(like)
    for b, v in zip(stored, values, strict=True):
        if b.edges.nnz:
            out += b.edges.segment(v, "sum")
    return out


def stage_product(block: SparseBlock, weights: Tensor, x: Tensor, spans: list[Span],
                  out: Tensor) -> None:
    """``out[:, span_k] += S(weights[:, k]) x[:, span_k]`` for every head span."""
    if block.nnz == 0:
        return
    for head, a, b in spans:
        out[:, a:b] += torch.sparse.mm(block.tensor(weights[:, head].contiguous()), x[:, a:b])


def stage_transposed_product(block: SparseBlock, weights: Tensor, grad: Tensor,
                             spans: list[Span]) -> Tensor:
    """``S(weights[:, k])^T grad[:, span_k]`` per head span: ``(block.cols, w)``."""
    out = grad.new_zeros(block.cols, grad.shape[1])
    if block.nnz == 0:
        return out
    for head, a, b in spans:
        matrix = block.tensor(weights[:, head].contiguous())
        out[:, a:b] = torch.sparse.mm(matrix.t(), grad[:, a:b].contiguous())
    return out


def stage_weight_grad(block: SparseBlock, grad: Tensor, x: Tensor, spans: list[Span],
                      heads: int) -> Tensor:
    """``<grad[dst, span_k], x[src, span_k]>`` for every edge and head: ``(nnz, K)``, zero for
    the heads with no local columns."""
    out = grad.new_zeros(block.nnz, heads)
    if block.nnz == 0:
        return out
    for head, a, b in spans:
        pattern = block.tensor(grad.new_zeros(block.nnz))
        torch.sparse.sampled_addmm(pattern, grad[:, a:b].contiguous(), x[:, a:b].T.contiguous(),
                                   beta=0.0, out=pattern)
        out[:, head] = pattern.values()
    return out


@dataclass(frozen=True)
class AttentionStep:
    """What one attention step needs besides its tensors."""

    heads: int
    head_width: int
    negative_slope: float
    dropout: float
    key: int


class StagedState(Protocol):
    """What the backward pass of a :class:`StagedAttention` reads from its forward pass."""

    comm: Communicator
    groups: ScoreGroups
    stored: list[tuple[int, StoredEdges]]
    saved: SavedWeights
    step: AttentionStep

    def stage_gradients(self, g: Tensor, grad: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``dL/dG`` of this process's rows and ``dL/dalpha`` of each stored block (in
        ``stored`` order), from ``dL/dZ``."""
        ...


class StagedAttention(torch.autograd.Function):
    """The backward pass shared by the attentions that multiply stage by stage (the grid,
    1.5D): their forward saves ``(G, s_src, s_dst)`` and a :class:`StagedState` as
    ``ctx.state``. The stages' products give ``dG`` and ``dalpha``
    (:meth:`StagedState.stage_gradients`); the softmax's and the scores' adjoints give the
    scores' gradients (:func:`edge_weights_backward`)."""

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        state: StagedState = ctx.state
        g, s_src, s_dst = ctx.saved_tensors
        with state.comm.log.phase(phases.BACKWARD_AGGREGATION):
            grad_g, grad_alphas = state.stage_gradients(g, grad.contiguous())
        with state.comm.log.phase(phases.BACKWARD_ATTENTION):
            grad_src, grad_dst = edge_weights_backward(
                state.groups, [e for _, e in state.stored], state.saved, grad_alphas, s_src,
                s_dst, state.step.negative_slope)
        return grad_g, grad_src, grad_dst, None, None, None, None
