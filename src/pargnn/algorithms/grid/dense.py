"""The dense steps of the contract on a ``Pr x Pc x Pl`` grid (1D, 2D, 3D and sa1d).

Process ``(i, j, l)`` holds rows ``B[i, l]`` and feature columns ``F[j]`` of every vertex
matrix (:mod:`pargnn.layout.places`). Everything but the graph's own steps (aggregation and
attention, which each algorithm brings) is written here once:

The dense transform ``Z = X W`` multiplies the local ``X[B, F[j]]`` by the rows ``F[j]`` of
the replicated ``W`` and reduce-scatters the partial products along the grid row so that each
process keeps its output columns; its backward all-gathers ``dZ`` along the row and all-reduces
``dW`` (and the bias gradient) over all processes, so every process holds the full gradient.
The loss gathers the class columns of each row, sums its terms locally and all-reduces the
sum; the processes of a grid row hold the same rows, so each term is counted ``Pc`` times and
divided back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.algorithms.contract import Counts, LocalData, split_of
from pargnn.algorithms.grid.attention import grid_head_scores
from pargnn.algorithms.grid.summa import gather_columns, scatter_columns
from pargnn.algorithms.rows import RowBlock
from pargnn.dist.phases import DENSE_TRANSFORM, LOSS
from pargnn.layout.places import GridPlace


class _Transform(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, place: GridPlace) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.place = place
        lo, hi = place.cols(weight.shape[0])
        with place.comm.log.phase(DENSE_TRANSFORM):
            return scatter_columns(place, x @ weight[lo:hi])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, weight = ctx.saved_tensors
        place: GridPlace = ctx.place
        lo, hi = place.cols(weight.shape[0])
        with place.comm.log.phase(DENSE_TRANSFORM):
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
        with place.comm.log.phase(DENSE_TRANSFORM):
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
        with place.comm.log.phase(DENSE_TRANSFORM):
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


class GridDenseSteps(RowBlock):
    """Every step of the contract but the graph's own (aggregation, attention) on a grid
    layout: the dense transform, bias, scale, scores, dropout, loss and accuracy.

    Args:
        place: this process's place on the grid, its communicator and precision.
        data: its rows ``B[i, l]`` and feature columns ``F[j]`` of the vertex data.
        num_classes, global_counts, original_ids: as :class:`~pargnn.algorithms.rows.RowBlock`.
    """

    def __init__(self, place: GridPlace, data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        super().__init__(data, num_classes, global_counts, original_ids)
        self.place = place
        self.replicas = place.layout.cols  # processes that hold the same rows

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

    def columns(self, width: int) -> tuple[int, int]:
        return self.place.cols(width)

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        with self.place.comm.log.phase(LOSS):
            full: Tensor = _GatherClasses.apply(logits, self.place, self.num_classes)
            total = self.global_counts[split_of(self._data, mask)]
            local = F.cross_entropy(full[mask], self._data.labels[mask], reduction="sum") / total
            value = local.detach().reshape(1).clone()
            self.place.comm.all_reduce(value, None, self.place.grid.spec.size)
            return local + (value[0] / self.replicas - local).detach()

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        with self.place.comm.log.phase(LOSS):
            full = gather_columns(self.place, logits, self.num_classes)
            correct = (full[mask].argmax(dim=1) == self._data.labels[mask]).sum()
            counts = torch.stack([correct, mask.sum()]).to(torch.int64)
            self.place.comm.all_reduce(counts, None, self.place.grid.spec.size)
        correct_all, total_all = (int(c) // self.replicas for c in counts.tolist())
        return Counts(correct=correct_all, total=total_all)
