"""The single-process algorithm: the whole graph on one device, and the reference.

Every distributed algorithm must reproduce what this one computes (outputs, loss and every
gradient), so it is written for clarity: it holds ``A`` and ``A^T`` for the whole graph and
calls the local kernel directly.
"""

from __future__ import annotations

from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.nn.dropout import keyed_dropout
from pargnn.spmm.attention import EdgeStructure, edge_scores, edge_softmax, weighted_spmm
from pargnn.spmm.contract import Counts, LocalData
from pargnn.spmm.local import SparseOperator, spmm


class SingleProcess:
    """All rows and all columns of every matrix on this process.

    Args:
        operator: the normalised adjacency (both orientations).
        data: features, labels and masks of every vertex.
    """

    def __init__(self, operator: SparseOperator, data: LocalData) -> None:
        self.operator = operator
        self._data = data

    @property
    def data(self) -> LocalData:
        return self._data

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
            codes = ids[edges.destination()] * ids.numel() + ids[edges.col.to(torch.int64)]
            alpha = keyed_dropout(alpha, dropout, key, codes, torch.arange(heads))
        out = weighted_spmm(edges, alpha, h.view(h.shape[0], heads, -1))
        return out.reshape(h.shape[0], -1)

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        columns = torch.arange(width, device=h.device)
        return keyed_dropout(h, p, key, self._data.row_ids, columns)

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        return F.cross_entropy(logits[mask], self._data.labels[mask])

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        predicted = logits[mask].argmax(dim=1)
        correct = int((predicted == self._data.labels[mask]).sum())
        return Counts(correct=correct, total=int(mask.sum()))
