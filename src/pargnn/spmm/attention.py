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

Memory is ``O(nnz x heads)`` for the scores and weights. The backward pass of
:func:`weighted_spmm` runs the transposed product from a second CSR (the same edges ordered
by source) and an SDDMM ``dalpha_ij = <dZ_j, X_i>`` for the weight gradient.

Shapes: ``s_src`` is ``(n_src, H)``, ``s_dst`` is ``(n_dst, H)``, edge tensors are
``(nnz, H)``, ``X`` is ``(n_src, H, f)`` and ``Z`` is ``(n_dst, H, f)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.spmm.local import csr_from_parts


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
    """

    crow: Tensor
    col: Tensor
    n_src: int
    by_source: Tensor
    source_crow: Tensor
    dst: Tensor

    @classmethod
    def from_csr(cls, crow: Tensor, col: Tensor, n_src: int) -> EdgeStructure:
        order = torch.argsort(col.to(torch.int64), stable=True)
        counts = torch.bincount(col.to(torch.int64), minlength=n_src)
        source_crow = torch.zeros(n_src + 1, dtype=crow.dtype, device=crow.device)
        source_crow[1:] = torch.cumsum(counts, 0)
        lengths = (crow[1:] - crow[:-1]).to(torch.int64)
        dst = torch.repeat_interleave(torch.arange(lengths.numel(), device=col.device), lengths)
        return cls(crow, col, n_src, order, source_crow, dst)

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
        return self.destination()[self.by_source]


def edge_scores(structure: EdgeStructure, s_src: Tensor, s_dst: Tensor,
                negative_slope: float = 0.2) -> Tensor:
    """``LeakyReLU(s_src[i] + s_dst[j])`` for every edge ``i -> j``: ``(nnz, H)``."""
    src = structure.col.to(torch.int64)
    dst = structure.destination()
    return F.leaky_relu(s_src[src] + s_dst[dst], negative_slope)


def segment_max(values: Tensor, segment: Tensor, segments: int) -> Tensor:
    """Per-segment maximum of ``values`` (``(nnz, H)``); empty segments give ``-inf``."""
    out = values.new_full((segments, values.shape[1]), float("-inf"))
    index = segment[:, None].expand_as(values)
    return out.scatter_reduce(0, index, values, reduce="amax", include_self=True)


def segment_sum(values: Tensor, segment: Tensor, segments: int) -> Tensor:
    out = values.new_zeros((segments, values.shape[1]))
    return out.index_add(0, segment, values)


def edge_softmax(structure: EdgeStructure, scores: Tensor) -> Tensor:
    """Softmax of ``scores`` over each destination's in-edges (numerically stable)."""
    dst = structure.destination()
    peak = segment_max(scores.detach(), dst, structure.n_dst)
    shifted = torch.exp(scores - peak[dst])
    total = segment_sum(shifted, dst, structure.n_dst)
    return shifted / total[dst]


class _WeightedSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, structure: EdgeStructure, weights: Tensor, x: Tensor) -> Tensor:
        ctx.structure = structure
        ctx.save_for_backward(weights, x)
        shape = (structure.n_dst, structure.n_src)
        return _per_head(structure.crow, structure.col, weights, x, shape)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor | None, Tensor | None]:
        structure: EdgeStructure = ctx.structure
        weights, x = ctx.saved_tensors
        grad = grad.contiguous()
        grad_weights = grad_x = None
        if ctx.needs_input_grad[1]:  # SDDMM: <dZ_j, X_i> per edge and head
            src, dst = structure.col.to(torch.int64), structure.destination()
            grad_weights = (grad[dst] * x[src]).sum(dim=-1)
        if ctx.needs_input_grad[2]:
            rows = structure.source_major_rows().to(structure.col.dtype)
            shape = (structure.n_src, structure.n_dst)
            grad_x = _per_head(structure.source_crow, rows, weights[structure.by_source], grad,
                               shape)
        return None, grad_weights, grad_x


def _per_head(crow: Tensor, col: Tensor, weights: Tensor, x: Tensor, shape: tuple[int, int]
              ) -> Tensor:
    """One CSR SpMM per head: ``(rows, H, f)`` from weights ``(nnz, H)`` and ``x (cols, H, f)``."""
    out = [torch.sparse.mm(csr_from_parts(crow, col, weights[:, h].contiguous(), shape), x[:, h])
           for h in range(weights.shape[1])]
    return torch.stack(out, dim=1)


def weighted_spmm(structure: EdgeStructure, weights: Tensor, x: Tensor) -> Tensor:
    """``Z_j = sum_i weights_ij X_i`` per head: ``(n_dst, H, f)`` from ``(n_src, H, f)``."""
    result: Tensor = _WeightedSpMM.apply(structure, weights, x)
    return result
