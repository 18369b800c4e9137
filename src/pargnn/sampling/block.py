"""One sampled layer as a rectangular operator: ``m`` destinations over ``n`` sources.

A block is what the algorithm contract calls a rectangular operator
(:mod:`pargnn.algorithms.contract`): its sources are its destinations first, then every other
vertex some destination drew, each once, in order of first appearance. The block hands its
layer a :class:`~pargnn.algorithms.single.SingleProcess` over exactly that operator, so every
model runs on sampled blocks unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.single import SingleProcess
from pargnn.ops.sparse import SparseOperator, csr_from_parts
from pargnn.sampling.csr import as_scipy, transpose


@dataclass(frozen=True)
class SampledBlock:
    """The edges one layer aggregates over: ``A^T`` of the block, ``m x n``, in CSR parts on
    the sampler's device (columns sorted within each row).

    Attributes:
        source_ids: global (run-order) ids of the ``n`` sources, destinations first.
        destinations: ``m``.
        crow, col, values: ``A^T``: row ``j`` holds the weights (float64) of the sources
            destination ``j`` aggregates.
    """

    source_ids: Tensor
    destinations: int
    crow: Tensor
    col: Tensor
    values: Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return self.destinations, int(self.source_ids.shape[0])

    @property
    def edges(self) -> int:
        return int(self.col.shape[0])

    @property
    def destination_ids(self) -> Tensor:
        return self.source_ids[: self.destinations]

    @property
    def at(self) -> sp.csr_array:
        """``A^T`` as a scipy array on the host (for inspection)."""
        return as_scipy(self.crow, self.col, self.values, self.shape)

    def operator(self, dtype: torch.dtype, device: torch.device) -> SparseOperator:
        """Both orientations on ``device``: ``A`` (``n x m``) and ``A^T``."""
        m, n = self.shape
        parts = (self.crow, self.col, self.values)
        return SparseOperator(_csr(transpose(*parts, self.shape), (n, m), dtype, device),
                              _csr(parts, (m, n), dtype, device))

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
                         row_ids=original_ids.index_select(
                             0, self.source_ids.to(original_ids.device)).to(device),
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

    def __init__(self, vertices: int, device: torch.device | None = None) -> None:
        self._local = torch.full((vertices,), self._EMPTY, dtype=torch.int64, device=device)

    def stored_bytes(self) -> int:
        return self._local.numel() * self._local.element_size()

    def __call__(self, destinations: Tensor, drawn: Tensor) -> tuple[Tensor, Tensor]:
        """``(source ids, local index of each drawn vertex)``; ``destinations`` distinct."""
        table, m, device = self._local, destinations.shape[0], self._local.device
        table.index_copy_(0, destinations, torch.arange(m, device=device))
        fresh = drawn[table.index_select(0, drawn) == self._EMPTY]
        order = torch.arange(fresh.shape[0], device=device)
        table.scatter_reduce_(0, fresh, order, reduce="amin")  # each id's first position
        fresh = fresh[table.index_select(0, fresh) == order]
        table.index_copy_(0, fresh, torch.arange(m, m + fresh.shape[0], device=device))
        local = table.index_select(0, drawn)
        table.index_fill_(0, destinations, self._EMPTY)
        table.index_fill_(0, fresh, self._EMPTY)
        return torch.cat((destinations, fresh)), local


def _csr(parts: tuple[Tensor, Tensor, Tensor], shape: tuple[int, int], dtype: torch.dtype,
         device: torch.device) -> Tensor:
    """A torch CSR tensor on ``device`` (32-bit indices where they fit, as
    :func:`~pargnn.ops.sparse.csr_tensor` makes them)."""
    crow, col, values = parts
    index = torch.int32 if max(*shape, col.shape[0]) < 2**31 else torch.int64
    return csr_from_parts(crow.to(device=device, dtype=index), col.to(device=device, dtype=index),
                          values.to(device=device, dtype=dtype), shape)
