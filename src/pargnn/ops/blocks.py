"""Sparse blocks that travel: CSR pieces of ``A`` and ``A^T`` as index and value tensors.

A block is sent as two tensors: its indices (row pointer and column indices concatenated, in
their exact integer dtype, int32 where it fits) and its values. A receiver knows the block's
shape and non-zero count from setup, so it can allocate both buffers before the broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.ops.sparse import csr_from_parts, csr_tensor


@dataclass(frozen=True)
class SparseBlock:
    """A CSR block ``(rows x cols)`` as one index tensor and one value tensor."""

    rows: int
    cols: int
    indices: Tensor  # crow_indices (rows + 1) followed by col_indices (nnz)
    values: Tensor

    @property
    def nnz(self) -> int:
        return int(self.values.numel())

    @classmethod
    def from_scipy(cls, block: sp.csr_array, dtype: torch.dtype, device: torch.device
                   ) -> SparseBlock:
        t = csr_tensor(block, dtype=dtype, device=device)
        indices = torch.cat([t.crow_indices(), t.col_indices()])
        return cls(block.shape[0], block.shape[1], indices, t.values())

    @classmethod
    def empty_like_shape(cls, rows: int, cols: int, nnz: int, index_dtype: torch.dtype,
                         dtype: torch.dtype, device: torch.device) -> SparseBlock:
        """Receive buffers for a block whose shape and non-zero count are known."""
        return cls(rows, cols, torch.empty(rows + 1 + nnz, dtype=index_dtype, device=device),
                   torch.empty(nnz, dtype=dtype, device=device))

    @property
    def crow(self) -> Tensor:
        """The CSR row pointer (a view of ``indices``)."""
        return self.indices[: self.rows + 1]

    @property
    def col(self) -> Tensor:
        """The column of each non-zero (a view of ``indices``)."""
        return self.indices[self.rows + 1:]

    def tensor(self, values: Tensor | None = None) -> Tensor:
        """The block as a torch CSR tensor (shares memory with the buffers), with its own
        values or ``values`` in their place."""
        return csr_from_parts(self.crow, self.col, self.values if values is None else values,
                              (self.rows, self.cols))


def index_dtype_for(n: int, nnz: int) -> torch.dtype:
    return torch.int32 if max(n, nnz) < 2**31 else torch.int64


def sub_block(matrix: sp.csr_array, rows: tuple[int, int], cols: tuple[int, int]
              ) -> sp.csr_array:
    """``matrix[r0:r1, c0:c1]`` as a canonical CSR array."""
    piece = sp.csr_array(matrix[rows[0]:rows[1], :][:, cols[0]:cols[1]])
    piece.sort_indices()
    return piece


def block_nnz(matrix: sp.csr_array, rows: tuple[int, int], cols: tuple[int, int]) -> int:
    """Non-zeros of ``matrix[r0:r1, c0:c1]`` without building the block."""
    lo, hi = matrix.indptr[rows[0]], matrix.indptr[rows[1]]
    idx = matrix.indices[lo:hi]
    return int(np.count_nonzero((idx >= cols[0]) & (idx < cols[1])))
