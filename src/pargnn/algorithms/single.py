"""The single-process algorithm: the whole operator on one device, and the reference.

Every distributed algorithm must reproduce what this one computes (outputs, loss and every
gradient), so it is written for clarity: it holds ``A`` and ``A^T`` and calls the local
kernels directly.

The operator may be rectangular (see :mod:`pargnn.algorithms.contract`): ``A`` is
``n x m``, sources by destinations, with the destinations first among the sources, as a
sampled layer or a pipeline chunk has it. For the full graph ``m = n``.
"""

from __future__ import annotations

from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.algorithms.contract import Counts, LocalData, local_data_bytes, tensor_bytes
from pargnn.algorithms.prepare import BuildOptions, PreparedGraph, rows_data
from pargnn.ops.attention import EdgeStructure, edge_scores, edge_softmax, weighted_spmm
from pargnn.ops.dropout import keyed_dropout
from pargnn.ops.sparse import SparseOperator, csr_tensor, spmm


class SingleProcess:
    """All rows and all columns of every matrix on this process.

    Args:
        operator: the normalised adjacency block, ``n`` sources by ``m <= n`` destinations
            (both orientations).
        data: features and ids of the ``n`` sources, labels and masks of the ``m``
            destinations.
        vertices: the number of vertices of the whole graph (keys attention dropout by
            global edge); defaults to ``n``.
    """

    def __init__(self, operator: SparseOperator, data: LocalData,
                 vertices: int | None = None) -> None:
        sources, targets = operator.shape
        if targets > sources:
            raise ValueError(f"a block has its {targets} destinations among its sources first; "
                             f"it cannot have more destinations than its {sources} sources")
        self.operator = operator
        self._data = data
        self.vertices = sources if vertices is None else vertices

    @property
    def data(self) -> LocalData:
        return self._data

    @property
    def local_nnz(self) -> int:
        return self.operator.nnz

    def stored_bytes(self) -> int:
        matrices = (self.operator.a, self.operator.at)
        return sum(tensor_bytes(m.crow_indices(), m.col_indices(), m.values())
                   for m in matrices) + local_data_bytes(self._data)

    def columns(self, width: int) -> tuple[int, int]:
        return 0, width

    def destinations(self, h: Tensor) -> Tensor:
        return h[: self.operator.shape[1]]

    def aggregate(self, h: Tensor) -> Tensor:
        return spmm(self.operator, h)

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        return h @ weight

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        return h + bias

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        return h * factor

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        heads, width = attention.shape
        return (h.view(-1, heads, width) * attention).sum(dim=-1)

    @cached_property
    def edges(self) -> EdgeStructure:
        """The edges of ``A^T`` (destination-major), for attention."""
        at = self.operator.at
        return EdgeStructure.from_csr(at.crow_indices(), at.col_indices(), int(at.shape[1]))

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        edges = self.edges
        alpha = edge_softmax(edges, edge_scores(edges, s_src, s_dst, negative_slope))
        if dropout > 0:
            ids = self._data.row_ids
            codes = ids[edges.destination()] * self.vertices + ids[edges.col.to(torch.int64)]
            alpha = keyed_dropout(alpha, dropout, key, codes, torch.arange(heads))
        out = weighted_spmm(edges, alpha, h.view(h.shape[0], heads, -1))
        return out.reshape(edges.n_dst, -1)

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        columns = torch.arange(width, device=h.device)
        return keyed_dropout(h, p, key, self._data.row_ids[: h.shape[0]], columns)

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        return F.cross_entropy(logits[mask], self._data.labels[mask])

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        predicted = logits[mask].argmax(dim=1)
        correct = int((predicted == self._data.labels[mask]).sum())
        return Counts(correct=correct, total=int(mask.sum()))


def build_single(prepared: PreparedGraph, options: BuildOptions) -> SingleProcess:
    """The whole prepared graph on this process (input order: one process needs no
    ``--permute``)."""
    operator = SparseOperator(csr_tensor(prepared.a, options.dtype, options.device),
                              csr_tensor(prepared.at, options.dtype, options.device))
    data = rows_data(prepared, (0, prepared.n), (0, prepared.features.shape[1]), options)
    return SingleProcess(operator, data)
