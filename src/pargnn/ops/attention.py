"""Local kernels of graph attention: edge scores (SDDMM), edge softmax, weighted SpMM.

Attention makes the edge weights learnable. For the block of ``A^T`` a process holds
(rows = destination vertices ``j``, columns = source vertices ``i``, one non-zero per edge
``i -> j``), with ``H`` heads:

* :func:`edge_scores` is the sampled product of the GAT decomposition, evaluated only at the
  non-zeros: ``e_ij = LeakyReLU(s_src[i] + s_dst[j])`` per head, where
  ``s_src = <a_l, W h_i>`` and ``s_dst = <a_r, W h_j>`` were computed per vertex;
* :func:`edge_softmax` normalises over each destination's in-edges,
  ``alpha_ij = exp(e_ij - m_j) / sum_k exp(e_kj - m_j)`` with ``m_j = max_k e_kj`` (the
  max-subtraction keeps it finite). A destination without in-edges gets no weights, so its
  aggregate is zero, never NaN;
* :func:`weighted_spmm` aggregates ``Z_j = sum_i alpha_ij X_i`` per head.

Method. The edges are stored destination-major (CSR rows of ``A^T``), so a reduction over
each destination's in-edges is a segment reduction over the CSR offsets
(``torch.segment_reduce``: the max and the sum of the softmax, ``dL/ds_dst``), never a scatter;
the sum over each source's out-edges (``dL/ds_src``) runs over the source-major order as an
embedding bag.

All heads are aggregated by one sparse product: the *interleaved* CSR of shape
``(n_dst H, n_src H)`` holds, in row ``j H + h``, the edges of ``j`` at columns ``i H + h``, so
that against ``X`` viewed as ``(n_src H, f)`` (a free view of ``(n_src, H, f)``) its product,
viewed as ``(n_dst, H, f)``, is ``Z`` -- no per-head loop, no strided copies, no stacking. Its
index arrays, and the permutation that moves the ``(nnz, H)`` weights into its value order, are
built once per head count and cached on the :class:`EdgeStructure`; a call only permutes the
values (one gather). On CPU the product is an embedding bag with per-sample weights (a
weighted sum of rows per CSR row; at ``f = 16`` torch's embedding-bag kernel measured faster
than its CSR SpMM kernels), elsewhere ``torch.sparse.mm``. The backward pass multiplies by the
interleaved CSR of the transposed block (edges ordered by source) for ``dL/dX``, and gets the
weight gradient ``dalpha_ij = <dZ_j, X_i>`` as a sampled dense-dense product
(``torch.sparse.sampled_addmm``) on the forward interleaved CSR: one dot product of length
``f`` per edge and head, with no ``(nnz, H, f)`` temporary.

The three kernels are autograd Functions with hand-written backward passes (first order
only), which save only what the backward needs: the scores (their sign is the LeakyReLU's
derivative), the weights, and the operands of the product. Every ``(nnz, H)`` temporary that
does not outlive a kernel call lives in one reusable buffer of the structure
(:class:`_Scratch`): a fresh allocation of that size costs its page faults, which are dearer
than the arithmetic of these memory-bound kernels. Memory is ``O(nnz x heads)``: scores,
weights, the cached index arrays and that buffer.

Shapes: ``s_src`` is ``(n_src, H)``, ``s_dst`` is ``(n_dst, H)``, edge tensors are
``(nnz, H)``, ``X`` is ``(n_src, H, f)`` and ``Z`` is ``(n_dst, H, f)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from pargnn.ops.sparse import csr_from_parts


class _Scratch:
    """One reusable buffer per dtype and device for ``(nnz, H)``-sized temporaries.

    A kernel takes the buffer, uses it and lets go of it before it returns: the buffer never
    holds a result, a saved tensor, or two temporaries at once. Not thread-safe.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[torch.dtype, torch.device], Tensor] = {}

    def take(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        key = (like.dtype, like.device)
        numel = math.prod(shape)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < numel:
            buffer = torch.empty(numel, dtype=like.dtype, device=like.device)
            self._buffers[key] = buffer
        return buffer[:numel].view(shape)


@dataclass(frozen=True)
class _Interleaved:
    """The interleaved CSR of a block for ``H`` heads: row ``r H + h`` holds row ``r``'s
    entries, at columns ``c H + h``.

    ``gather`` maps each of its values to the flat index of the ``(nnz, H)`` weight it holds
    (``None`` where that is the identity: one head, destination-major).
    """

    crow: Tensor
    col: Tensor
    gather: Tensor | None
    shape: tuple[int, int]

    def values(self, weights: Tensor, scratch: _Scratch) -> Tensor:
        """The weights ``(nnz, H)`` in this CSR's value order (in ``scratch`` if permuted)."""
        flat = weights.reshape(-1)
        if self.gather is None:
            return flat
        return torch.index_select(flat, 0, self.gather, out=scratch.take(flat.shape, flat))


class _HeadLayouts(NamedTuple):
    """Both interleaved CSRs for one head count, and ``to_edges``: the forward CSR's value
    position of every flat ``(nnz, H)`` edge entry (``None`` where it is the identity)."""

    forward: _Interleaved
    transposed: _Interleaved
    to_edges: Tensor | None


def _index_dtype(bound: int) -> torch.dtype:
    return torch.int32 if bound < 2**31 else torch.int64


def _interleave(crow: Tensor, col: Tensor, rows: Tensor, n_cols: int, heads: int
                ) -> tuple[Tensor, Tensor, Tensor]:
    """The interleaved CSR of ``(crow, col)`` (entry ``k`` in row ``rows[k]``) for ``heads``.

    Returns its row pointer, its columns, and ``position`` ``(nnz, H)``: where entry ``k`` of
    head ``h`` lands among its values.
    """
    crow64, col64 = crow.to(torch.int64), col.to(torch.int64)
    nnz, n_rows = col64.numel(), crow64.numel() - 1
    head = torch.arange(heads, device=col.device)
    degree = crow64[1:] - crow64[:-1]
    crow_x = torch.full((n_rows * heads + 1,), nnz * heads, dtype=torch.int64,
                        device=col.device)
    crow_x[:-1] = (crow64[:-1, None] * heads + head * degree[:, None]).reshape(-1)
    start = crow64[rows]
    # row r's block starts at crow[r] H; head h's run at + h deg(r); entry k at + k - crow[r]
    position = ((heads - 1) * start + torch.arange(nnz, device=col.device))[:, None] \
        + head * degree[rows][:, None]
    col_x = torch.empty(nnz * heads, dtype=torch.int64, device=col.device)
    col_x[position.reshape(-1)] = (col64[:, None] * heads + head).reshape(-1)
    index = _index_dtype(max(n_cols * heads, nnz * heads + 1))
    return crow_x.to(index), col_x.to(index), position


def _head_layouts(structure: EdgeStructure, heads: int) -> _HeadLayouts:
    """Build both interleaved CSRs of ``structure`` for ``heads``."""
    nnz, n_src, n_dst = structure.nnz, structure.n_src, structure.n_dst
    index = _index_dtype(nnz * heads)
    crow, col, position = _interleave(structure.crow, structure.col, structure.dst, n_src,
                                      heads)
    to_edges = position.reshape(-1)
    gather = torch.empty_like(to_edges)
    gather[to_edges] = torch.arange(to_edges.numel(), device=to_edges.device)
    identity = heads == 1
    forward = _Interleaved(crow, col, None if identity else gather.to(index),
                           (n_dst * heads, n_src * heads))
    # the transposed block: rows are sources, entry k is the edge by_source[k]
    sources = structure.src[structure.by_source]
    crow_t, col_t, position_t = _interleave(structure.source_crow, structure.source_rows,
                                            sources, n_dst, heads)
    head = torch.arange(heads, device=structure.col.device)
    gather_t = torch.empty_like(to_edges)
    gather_t[position_t.reshape(-1)] = (structure.by_source[:, None] * heads + head).reshape(-1)
    transposed = _Interleaved(crow_t, col_t, gather_t.to(index), (n_src * heads, n_dst * heads))
    return _HeadLayouts(forward, transposed, None if identity else to_edges.to(index))


@dataclass(frozen=True)
class EdgeStructure:
    """The edges of one block in destination-major order, and how to reorder them by source.

    Args:
        crow: CSR row pointer over destinations, ``(n_dst + 1,)``.
        col: source of each edge, ``(nnz,)``.
        n_src: number of source vertices (columns).
        by_source: the permutation that orders the edges by source.
        source_crow: CSR row pointer of that source-major order, ``(n_src + 1,)``.
        dst: destination of each edge, ``(nnz,)`` (int64).
        src: source of each edge, ``(nnz,)`` (int64).
        offsets: ``crow`` as int64, the segment offsets of the destinations.
        source_offsets: ``source_crow`` as int64.
        source_rows: the destination of every edge in source-major order (the transposed
            CSR's columns), in ``col``'s dtype.
    """

    crow: Tensor
    col: Tensor
    n_src: int
    by_source: Tensor
    source_crow: Tensor
    dst: Tensor
    src: Tensor
    offsets: Tensor
    source_offsets: Tensor
    source_rows: Tensor
    _scratch: _Scratch = field(compare=False, repr=False)
    _layouts: dict[int, _HeadLayouts] = field(compare=False, repr=False)

    @classmethod
    def from_csr(cls, crow: Tensor, col: Tensor, n_src: int) -> EdgeStructure:
        src = col.to(torch.int64)
        order = torch.argsort(src, stable=True)
        counts = torch.bincount(src, minlength=n_src)
        source_crow = torch.zeros(n_src + 1, dtype=crow.dtype, device=crow.device)
        source_crow[1:] = torch.cumsum(counts, 0)
        offsets = crow.to(torch.int64)
        lengths = offsets[1:] - offsets[:-1]
        dst = torch.repeat_interleave(torch.arange(lengths.numel(), device=col.device), lengths)
        return cls(crow, col, n_src, order, source_crow, dst, src, offsets,
                   source_crow.to(torch.int64), dst[order].to(col.dtype), _Scratch(), {})

    @property
    def n_dst(self) -> int:
        return int(self.crow.numel() - 1)

    @property
    def nnz(self) -> int:
        return int(self.col.numel())

    def destination(self) -> Tensor:
        """The destination row of every edge, ``(nnz,)``."""
        return self.dst

    def source_major_rows(self) -> Tensor:
        """The destination of every edge in source-major order (the transposed CSR's columns)."""
        return self.dst[self.by_source]

    def layouts(self, heads: int) -> _HeadLayouts:
        """The interleaved CSRs for ``heads``, built on first use and cached."""
        if heads not in self._layouts:
            self._layouts[heads] = _head_layouts(self, heads)
        return self._layouts[heads]

    def per_edge(self, values: Tensor, out: Tensor) -> Tensor:
        """``values[dst]``: a per-destination ``(n_dst, H)`` tensor spread over the edges."""
        return torch.index_select(values, 0, self.dst, out=out)

    def segment(self, values: Tensor, reduce: str) -> Tensor:
        """Reduce ``(nnz, H)`` edge values over each destination's in-edges: ``(n_dst, H)``;
        an empty segment gives 0 (sum) or ``-inf`` (max)."""
        return torch.segment_reduce(values, reduce, offsets=self.offsets, axis=0, unsafe=True)


class _EdgeScores(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, structure: EdgeStructure, s_src: Tensor, s_dst: Tensor,
                negative_slope: float) -> Tensor:
        raw = torch.index_select(s_src, 0, structure.src)
        raw += structure.per_edge(s_dst, structure._scratch.take(raw.shape, raw))
        if negative_slope >= 0:  # the output's sign is the input's: keep only the output
            scores = F.leaky_relu(raw, negative_slope, inplace=True)
            ctx.save_for_backward(scores)
        else:
            scores = F.leaky_relu(raw, negative_slope)
            ctx.save_for_backward(raw)
        ctx.structure, ctx.negative_slope = structure, negative_slope
        return scores

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor | None, Tensor | None, None]:
        structure: EdgeStructure = ctx.structure
        (saved,) = ctx.saved_tensors
        slope = ctx.negative_slope
        raw_grad = torch.ops.aten.leaky_relu_backward.grad_input(
            grad, saved, slope, slope >= 0,
            grad_input=structure._scratch.take(saved.shape, saved))
        grad_src = grad_dst = None
        if ctx.needs_input_grad[1]:  # sum over each source's out-edges, as an embedding bag
            grad_src = F.embedding_bag(structure.by_source, raw_grad, structure.source_offsets,
                                       mode="sum", include_last_offset=True)
        if ctx.needs_input_grad[2]:
            grad_dst = structure.segment(raw_grad, "sum")
        return None, grad_src, grad_dst, None


def edge_scores(structure: EdgeStructure, s_src: Tensor, s_dst: Tensor,
                negative_slope: float = 0.2) -> Tensor:
    """``LeakyReLU(s_src[i] + s_dst[j])`` for every edge ``i -> j``: ``(nnz, H)``."""
    result: Tensor = _EdgeScores.apply(structure, s_src.contiguous(), s_dst.contiguous(),
                                       negative_slope)
    return result


class _EdgeSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, structure: EdgeStructure, scores: Tensor) -> Tensor:
        scratch = structure._scratch.take(scores.shape, scores)
        # an empty segment's -inf peak and 0 total are never spread to an edge
        alpha = torch.sub(scores, structure.per_edge(structure.segment(scores, "max"), scratch))
        alpha.exp_()
        alpha /= structure.per_edge(structure.segment(alpha, "sum"), scratch)
        ctx.structure = structure
        ctx.save_for_backward(alpha)
        return alpha

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        structure: EdgeStructure = ctx.structure
        (alpha,) = ctx.saved_tensors
        # d e_ij = alpha_ij (g_ij - sum_k alpha_kj g_kj)
        grad_scores = alpha * grad
        total = structure.segment(grad_scores, "sum")
        spread = structure.per_edge(total, structure._scratch.take(alpha.shape, alpha))
        return None, grad_scores.addcmul_(alpha, spread, value=-1)


def edge_softmax(structure: EdgeStructure, scores: Tensor) -> Tensor:
    """Softmax of ``scores`` over each destination's in-edges (numerically stable)."""
    result: Tensor = _EdgeSoftmax.apply(structure, scores.contiguous())
    return result


def _spmm(layout: _Interleaved, values: Tensor, dense: Tensor) -> Tensor:
    """The interleaved CSR with ``values`` times ``dense`` ``(shape[1], f)``."""
    if dense.device.type == "cpu":
        # a weighted sum of rows per CSR row is exactly an embedding bag (fbgemm's kernel)
        return F.embedding_bag(layout.col, dense, layout.crow, mode="sum",
                               per_sample_weights=values, include_last_offset=True)
    return torch.sparse.mm(csr_from_parts(layout.crow, layout.col, values, layout.shape), dense)


class _WeightedSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, structure: EdgeStructure, weights: Tensor, x: Tensor) -> Tensor:
        n_src, heads, width = x.shape
        forward = structure.layouts(heads).forward
        ctx.structure = structure
        ctx.save_for_backward(weights, x)
        values = forward.values(weights, structure._scratch)
        out = _spmm(forward, values, x.reshape(n_src * heads, width))
        return out.view(structure.n_dst, heads, width)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor | None, Tensor | None]:
        structure: EdgeStructure = ctx.structure
        weights, x = ctx.saved_tensors
        n_src, heads, width = x.shape
        layouts = structure.layouts(heads)
        grad = grad.contiguous().view(structure.n_dst * heads, width)
        grad_weights = grad_x = None
        if ctx.needs_input_grad[2]:  # dX = S(alpha)^T dZ, from the transposed interleaved CSR
            values = layouts.transposed.values(weights, structure._scratch)
            grad_x = _spmm(layouts.transposed, values, grad).view(n_src, heads, width)
        if ctx.needs_input_grad[1]:  # dalpha_ij = <dZ_j, X_i>, sampled at the edges
            grad_weights = _sddmm(structure._scratch, layouts, grad, x.reshape(-1, width))
            grad_weights = grad_weights.view(weights.shape)
        return None, grad_weights, grad_x


def _sddmm(scratch: _Scratch, layouts: _HeadLayouts, left: Tensor, right: Tensor) -> Tensor:
    """``<left_r, right_c>`` at every non-zero ``(r, c)`` of the forward interleaved CSR,
    returned flat in ``(nnz, H)`` order."""
    layout, to_edges = layouts.forward, layouts.to_edges
    if to_edges is None:  # already in edge order: compute straight into the result
        values = left.new_zeros(layout.col.numel())
    else:
        values = scratch.take((layout.col.numel(),), left).zero_()
    matrix = csr_from_parts(layout.crow, layout.col, values, layout.shape)
    torch.sparse.sampled_addmm(matrix, left, right.T, beta=0.0, out=matrix)
    return values if to_edges is None else values.index_select(0, to_edges)


def weighted_spmm(structure: EdgeStructure, weights: Tensor, x: Tensor) -> Tensor:
    """``Z_j = sum_i weights_ij X_i`` per head: ``(n_dst, H, f)`` from ``(n_src, H, f)``."""
    result: Tensor = _WeightedSpMM.apply(structure, weights, x)
    return result
