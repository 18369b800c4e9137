"""The two CSR chores of a sampled block, on the device where the sampler runs.

A block's rows come out of the sampler row by row but with their columns in draw order, and
a layer needs the block in both orientations. On the CPU scipy does both in compiled loops
(an in-row sort and a transpose, each ``O(nnz)``); on CUDA one sort of the device does each,
so the block never leaves the GPU.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


def as_scipy(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]
             ) -> sp.csr_array:
    """The CSR parts as a scipy array (copied to the host if they are elsewhere)."""
    return sp.csr_array((values.cpu().numpy(), col.cpu().numpy(), crow.cpu().numpy()),
                        shape=shape)


def _from_scipy(matrix: sp.csr_array) -> tuple[Tensor, Tensor, Tensor]:
    return (torch.from_numpy(np.asarray(matrix.indptr, dtype=np.int64)),
            torch.from_numpy(np.asarray(matrix.indices, dtype=np.int64)),
            torch.from_numpy(np.asarray(matrix.data)))


def _rows(crow: Tensor) -> Tensor:
    counts = crow[1:] - crow[:-1]
    return torch.repeat_interleave(torch.arange(counts.shape[0], device=crow.device), counts)


def sort_columns(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]
                 ) -> tuple[Tensor, Tensor]:
    """``col`` and ``values`` with each row's columns in increasing order."""
    if crow.device.type == "cpu":
        matrix = as_scipy(crow, col, values, shape)
        matrix.sort_indices()
        return _from_scipy(matrix)[1:]
    order = torch.argsort(_rows(crow) * shape[1] + col)
    return col[order], values[order]


def transpose(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]
              ) -> tuple[Tensor, Tensor, Tensor]:
    """The CSR parts of the ``shape[1] x shape[0]`` transpose, columns sorted, from parts
    whose columns are sorted."""
    if crow.device.type == "cpu":
        matrix = sp.csr_array(as_scipy(crow, col, values, shape).T)
        matrix.sort_indices()
        return _from_scipy(matrix)
    order = torch.sort(col, stable=True).indices  # row-major input: rows stay sorted
    counts = torch.bincount(col, minlength=shape[1])
    crow_t = torch.cat((counts.new_zeros(1), torch.cumsum(counts, 0)))
    return crow_t, _rows(crow)[order], values[order]
