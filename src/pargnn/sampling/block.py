"""One sampled layer as a rectangular operator: ``m`` destinations over ``n`` sources.

A block is what the algorithm contract calls a rectangular operator
(:mod:`pargnn.algorithms.contract`): its sources are its destinations first, then every other
vertex some destination drew, each once, in order of first appearance. The block hands its
layer a :class:`~pargnn.algorithms.single.SingleProcess` over exactly that operator, so every
model runs on sampled blocks unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.single import SingleProcess
from pargnn.ops.sparse import SparseOperator, csr_tensor


@dataclass(frozen=True)
class SampledBlock:
    """The edges one layer aggregates over: ``A^T`` of the block, ``m x n``, in CSR.

    Attributes:
        source_ids: global (run-order) ids of the ``n`` sources, destinations first.
        destinations: ``m``.
        at: the block's ``A^T`` (scipy CSR, ``m x n``, columns sorted): row ``j`` holds the
            weights of the sources destination ``j`` aggregates.
    """

    source_ids: Tensor
    destinations: int
    at: sp.csr_array

    @property
    def edges(self) -> int:
        return int(self.at.nnz)

    @property
    def destination_ids(self) -> Tensor:
        return self.source_ids[: self.destinations]

    def operator(self, dtype: torch.dtype, device: torch.device) -> SparseOperator:
        """Both orientations on ``device``: ``A`` (``n x m``) and ``A^T``."""
        a = sp.csr_array(self.at.T)
        a.sort_indices()
        return SparseOperator(csr_tensor(a, dtype, device), csr_tensor(self.at, dtype, device))

    def algorithm(self, original_ids: Tensor, dtype: torch.dtype, device: torch.device
                  ) -> SingleProcess:
        """The single-process algorithm over this block, on ``device`` in ``dtype``.

        ``original_ids`` maps every run-order id to its id in the input graph (what dropout
        is keyed by); its length is the whole graph's vertex count (attention dropout's key of
        a global edge). The algorithm's data holds no features (the schedule passes them) and
        no labels (it computes the loss).
        """
        n, m = int(self.source_ids.shape[0]), self.destinations
        none = torch.zeros(m, dtype=torch.bool, device=device)
        data = LocalData(features=torch.empty((n, 0), dtype=dtype, device=device),
                         labels=torch.zeros(m, dtype=torch.int64, device=device),
                         train_mask=none, val_mask=none, test_mask=none,
                         row_ids=original_ids[self.source_ids].to(device),
                         feature_ids=torch.empty(0, dtype=torch.int64, device=device))
        return SingleProcess(self.operator(dtype, device), data,
                             vertices=int(original_ids.shape[0]))


class Relabeler:
    """Local ids for a block's sources: destinations first, then every other drawn vertex
    once, in order of first appearance.

    It keeps one ``n``-entry table of local ids (empty between calls), so a call costs
    ``O(drawn)`` scattered accesses and no sort of the ids.
    """

    _EMPTY = torch.iinfo(torch.int64).max

    def __init__(self, vertices: int) -> None:
        self._local = torch.full((vertices,), self._EMPTY, dtype=torch.int64)

    def stored_bytes(self) -> int:
        return self._local.numel() * self._local.element_size()

    def __call__(self, destinations: Tensor, drawn: Tensor) -> tuple[Tensor, Tensor]:
        """``(source ids, local index of each drawn vertex)``; ``destinations`` distinct."""
        table, m = self._local, destinations.shape[0]
        table.index_copy_(0, destinations, torch.arange(m))
        fresh = drawn[table.index_select(0, drawn) == self._EMPTY]
        order = torch.arange(fresh.shape[0])
        table.scatter_reduce_(0, fresh, order, reduce="amin")  # each id's first position
        fresh = fresh[table.index_select(0, fresh) == order]
        table.index_copy_(0, fresh, torch.arange(m, m + fresh.shape[0]))
        local = table.index_select(0, drawn)
        table.index_fill_(0, destinations, self._EMPTY)
        table.index_fill_(0, fresh, self._EMPTY)
        return torch.cat((destinations, fresh)), local


def block_matrix(indptr: np.ndarray, cols: np.ndarray, values: np.ndarray,
                 shape: tuple[int, int]) -> sp.csr_array:
    """A CSR ``A^T`` block from its row pointers, columns and weights (columns sorted here)."""
    at = sp.csr_array((values, cols, indptr), shape=shape)
    at.sort_indices()
    return at
