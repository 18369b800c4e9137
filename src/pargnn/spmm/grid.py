"""The :class:`~pargnn.spmm.contract.Algorithm` of a ``Pr x Pc x Pl`` grid (1D, 2D, 3D).

The aggregation is the SUMMA of :mod:`pargnn.spmm.summa` (the layout and the data movement are
described there), graph attention that of :mod:`pargnn.spmm.grid_attention`. This module adds
the dense steps on the same layout.

The dense transform ``Z = X W`` multiplies the local ``X[B, F[j]]`` by the rows ``F[j]`` of
the replicated ``W`` and reduce-scatters the partial products along the grid row so that each
process keeps its output columns; its backward all-gathers ``dZ`` along the row and all-reduces
``dW`` (and the bias gradient) over all processes, so every process holds the full gradient.
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.nn.dropout import keyed_dropout
from pargnn.spmm.block_attention import StoredEdges
from pargnn.spmm.blocks import SparseBlock
from pargnn.spmm.contract import (
    Counts,
    LocalData,
    local_data_bytes,
    split_of,
    tensor_bytes,
)
from pargnn.spmm.grid_attention import (
    AttentionStep,
    grid_attend,
    grid_head_scores,
    stored_edges,
)
from pargnn.spmm.paired import paired_spmm
from pargnn.spmm.summa import GridPlace, Operator, gather_columns, scatter_columns, summa_spmm


class _Transform(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, place: GridPlace) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.place = place
        lo, hi = place.cols(weight.shape[0])
        with place.comm.log.phase("dense_transform"):
            return scatter_columns(place, x @ weight[lo:hi])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, weight = ctx.saved_tensors
        place: GridPlace = ctx.place
        lo, hi = place.cols(weight.shape[0])
        with place.comm.log.phase("dense_transform"):
            full = gather_columns(place, grad.contiguous(), weight.shape[1])
            grad_weight = None
            if ctx.needs_input_grad[1]:  # not for a fixed matrix (GAT's mean over heads)
                grad_weight = torch.zeros_like(weight)
                grad_weight[lo:hi] = x.T @ full
                place.comm.all_reduce(grad_weight, None, place.grid.spec.size)
        # not for the raw features: the first layer's dX is the largest product of the step
        grad_x = full @ weight[lo:hi].T if ctx.needs_input_grad[0] else None
        return grad_x, grad_weight, None


class _AddBias(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, bias: Tensor, place: GridPlace) -> Tensor:
        ctx.place, ctx.width = place, bias.shape[0]
        lo, hi = place.cols(bias.shape[0])
        return x + bias[lo:hi]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        place: GridPlace = ctx.place
        lo, hi = place.cols(ctx.width)
        grad_bias = grad.new_zeros(ctx.width)
        grad_bias[lo:hi] = grad.sum(dim=0)
        with place.comm.log.phase("dense_transform"):
            place.comm.all_reduce(grad_bias, None, place.grid.spec.size)
        return grad, grad_bias, None


class _Scale(torch.autograd.Function):
    """``x * factor``; the factor's gradient is summed over the whole grid (every process
    holds a distinct block)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, factor: Tensor, place: GridPlace) -> Tensor:
        ctx.save_for_backward(x, factor)
        ctx.place = place
        return x * factor

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        x, factor = ctx.saved_tensors
        place: GridPlace = ctx.place
        grad_factor = (grad * x).sum().reshape(factor.shape)
        with place.comm.log.phase("dense_transform"):
            place.comm.all_reduce(grad_factor, None, place.grid.spec.size)
        return grad * factor, grad_factor, None


class _GatherClasses(torch.autograd.Function):
    """Full class rows for the loss; backward keeps this process's own columns (every
    process of the grid row computes the same loss on the same rows)."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, place: GridPlace, width: int) -> Tensor:
        ctx.span = place.cols(width)
        return gather_columns(place, logits, width)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        lo, hi = ctx.span
        return grad[:, lo:hi].contiguous(), None, None


class GridDenseSteps:
    """Every step of the contract but the graph's own (aggregation, attention) on a grid
    layout: the dense transform, bias, scale, scores, dropout, loss and accuracy.

    Args:
        place: this process's place on the grid, its communicator and precision.
        data: its rows ``B[i, l]`` and feature columns ``F[j]`` of the vertex data.
        num_classes: width of the logits.
        global_counts: number of vertices in each split over the whole graph.
        original_ids: the input graph's id of the vertex at each position, when the run
            reorders the vertices (``None``: position is id); keys attention dropout.
    """

    def __init__(self, place: GridPlace, data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        self.place = place
        self._data = data
        self.num_classes = num_classes
        self.global_counts = global_counts
        self.original_ids = original_ids
        self.replicas = place.layout.cols  # processes that hold the same rows

    @property
    def data(self) -> LocalData:
        return self._data

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        result: Tensor = _Transform.apply(h, weight, self.place)
        return result

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        result: Tensor = _AddBias.apply(h, bias, self.place)
        return result

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        result: Tensor = _Scale.apply(h, factor, self.place)
        return result

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        return grid_head_scores(self.place, h, attention)

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        lo, hi = self.place.cols(width)
        columns = torch.arange(lo, hi, device=h.device)
        return keyed_dropout(h, p, key, self._data.row_ids, columns)

    def class_columns(self, width: int) -> tuple[int, int]:
        """The global column range of a ``width``-wide matrix that this process holds."""
        return self.place.cols(width)

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        with self.place.comm.log.phase("loss"):
            full: Tensor = _GatherClasses.apply(logits, self.place, self.num_classes)
            total = self.global_counts[split_of(self._data, mask)]
            local = F.cross_entropy(full[mask], self._data.labels[mask], reduction="sum") / total
            value = local.detach().reshape(1).clone()
            self.place.comm.all_reduce(value, None, self.place.grid.spec.size)
            return local + (value[0] / self.replicas - local).detach()

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        with self.place.comm.log.phase("loss"):
            full = gather_columns(self.place, logits, self.num_classes)
            correct = (full[mask].argmax(dim=1) == self._data.labels[mask]).sum()
            counts = torch.stack([correct, mask.sum()]).to(torch.int64)
            self.place.comm.all_reduce(counts, None, self.place.grid.spec.size)
        correct_all, total_all = (int(c) // self.replicas for c in counts.tolist())
        return Counts(correct=correct_all, total=total_all)


class GridAlgorithm(GridDenseSteps):
    """The :class:`~pargnn.spmm.contract.Algorithm` of a ``Pr x Pc x Pl`` grid.

    Args:
        place, data, num_classes, global_counts, original_ids: as :class:`GridDenseSteps`.
        at, a: its share of ``A^T`` (forward) and ``A`` (backward).
    """

    def __init__(self, place: GridPlace, at: Operator, a: Operator, data: LocalData,
                 num_classes: int, global_counts: dict[str, int],
                 original_ids: np.ndarray | None = None) -> None:
        super().__init__(place, data, num_classes, global_counts, original_ids)
        self.at, self.a = at, a

    def aggregate(self, h: Tensor) -> Tensor:
        return paired_spmm(h, partial(summa_spmm, self.place, self.at),
                           partial(summa_spmm, self.place, self.a), self.place.comm.log)

    @cached_property
    def stored_edges(self) -> list[tuple[int, StoredEdges]]:
        """The edges of the stored blocks of ``A^T`` (built on the first attention step)."""
        return stored_edges(self.place, self.at, self.original_ids)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        step = AttentionStep(heads, head_width, negative_slope, dropout, key)
        return grid_attend(self.place, self.at, self.stored_edges, h, s_src, s_dst, step)

    def at_blocks(self) -> list[SparseBlock]:
        """The blocks of ``A^T`` this process stores."""
        return list(self.at.owned.values())

    def stored_bytes(self) -> int:
        """Bytes of the graph this process holds: its sparse blocks and its vertex data."""
        blocks = list(self.at.owned.values()) + list(self.a.owned.values())
        return sum(tensor_bytes(b.indices, b.values) for b in blocks) + local_data_bytes(
            self._data)


def global_split_counts(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> dict[str, int]:
    return {"train": int(train.sum()), "val": int(val.sum()), "test": int(test.sum())}
