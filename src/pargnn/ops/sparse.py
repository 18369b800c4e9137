"""Local sparse kernels: the autograd-aware SpMM every algorithm runs on its own block.

A GCN layer aggregates ``Z = A^T H`` in the forward pass and needs ``dL/dH = A G`` in the
backward pass (``G = dL/dZ``). Both are sparse-times-dense products, and both run from CSR:
the operator keeps ``A`` and ``A^T`` as two CSR tensors, built once at setup, so neither pass
ever transposes at run time and nothing is ever densified. The kernel itself is torch's
(MKL on CPU, cuSPARSE on CUDA).

Shapes (for a block of ``A`` with ``m`` rows and ``k`` columns):

* ``SparseOperator.a``: ``(m, k)`` CSR; ``SparseOperator.at``: ``(k, m)`` CSR.
* ``spmm(op, h)``: ``h`` is ``(m, f)``; the result is ``(k, f)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


def csr_tensor(
    matrix: sp.csr_array, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> Tensor:
    """A torch CSR tensor from a scipy CSR array; indices keep their (int32/int64) dtype."""
    m = sp.csr_array(matrix)
    index_dtype = np.int32 if max(m.shape[0], m.shape[1], m.nnz) < 2**31 else np.int64
    crow, col, values = (torch.from_numpy(writable_array(a, kind)) for a, kind in
                         ((m.indptr, index_dtype), (m.indices, index_dtype), (m.data, None)))
    values = values.to(dtype)
    return csr_from_parts(crow.to(device), col.to(device), values.to(device), m.shape)


def writable_array(a: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """``a`` contiguous in ``dtype``, copied when it is read-only (a mapped file)."""
    out = np.ascontiguousarray(a, dtype=dtype)
    return out if out.flags.writeable else out.copy()


def csr_from_parts(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A torch CSR tensor from its three parts, which pargnn has already validated."""
    # torch warns that the CSR layout is "beta"; nothing in that is actionable for a user, and
    # the invariants were checked when the Graph was built.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, values, size=shape, check_invariants=False)


@dataclass(frozen=True)
class SparseOperator:
    """A sparse block of ``A`` in both orientations, ready for forward and backward SpMM."""

    a: Tensor
    at: Tensor

    @classmethod
    def from_scipy(
        cls,
        matrix: sp.csr_array,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> SparseOperator:
        m = sp.csr_array(matrix)
        transposed = sp.csr_array(m.T)
        transposed.sort_indices()
        return cls(csr_tensor(m, dtype, device), csr_tensor(transposed, dtype, device))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.a.shape[0]), int(self.a.shape[1]))

    @property
    def nnz(self) -> int:
        return int(self.a.values().numel())


class _SpMM(torch.autograd.Function):
    """``Z = A^T H`` with ``dL/dH = A dL/dZ``; no gradient flows to the fixed operator."""

    @staticmethod
    def forward(ctx: Any, op: SparseOperator, h: Tensor) -> Tensor:
        ctx.op = op
        return torch.sparse.mm(op.at, h)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor | None]:
        if not ctx.needs_input_grad[1]:
            return None, None
        return None, torch.sparse.mm(ctx.op.a, grad.contiguous())


def spmm(op: SparseOperator, h: Tensor) -> Tensor:
    """``A^T h`` for the block ``op``, differentiable in ``h``.

    Shapes: ``h`` is ``(m, f)`` for an ``(m, k)`` block; the result is ``(k, f)``.
    """
    if h.shape[0] != op.shape[0]:
        raise ValueError(f"spmm: operator has {op.shape[0]} rows but h has {h.shape[0]}")
    result: Tensor = _SpMM.apply(op, h)
    return result
