"""The dense steps of the contract in the 1.5D layout (1.5D and sa1.5d).

Process ``(i, r)`` holds block row ``B[i]`` of every vertex matrix with every column
(:class:`~pargnn.layout.places.ReplicatedPlace`). The dense transform is local (features are
not split); ``dW`` and the bias gradient are all-reduced within a team ``(*, r)``, which holds
every block row once, so every process ends with the full gradient. The loss and the accuracy
counts are summed within the team the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.algorithms.block_attention import partial_head_scores
from pargnn.algorithms.contract import Counts, LocalData, split_of
from pargnn.algorithms.rows import RowBlock
from pargnn.dist.differentiable import sum_gradient
from pargnn.dist.phases import BACKWARD_ATTENTION, DENSE_TRANSFORM, LOSS
from pargnn.layout.places import ReplicatedPlace


class _TeamSumGradient(torch.autograd.Function):
    """Identity forward; the backward all-reduces a parameter's gradient within the team."""

    @staticmethod
    def forward(ctx: Any, parameter: Tensor, place: ReplicatedPlace) -> Tensor:
        ctx.place = place
        return parameter.view_as(parameter)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        place: ReplicatedPlace = ctx.place
        total = grad.contiguous().clone()
        with place.comm.log.phase(DENSE_TRANSFORM):
            place.comm.all_reduce(total, place.grid.group("row"), place.teams)
        return total, None


class ReplicatedDenseSteps(RowBlock):
    """Every step of the contract but the graph's own (aggregation, attention) in the 1.5D
    layout: the dense transform, bias, scale, scores, dropout, loss and accuracy.

    Args:
        place: this process's block row, replica index and groups.
        data: its rows ``B[i]`` of the vertex data, every column.
        num_classes, global_counts, original_ids: as :class:`~pargnn.algorithms.rows.RowBlock`.
    """

    def __init__(self, place: ReplicatedPlace, data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        super().__init__(data, num_classes, global_counts, original_ids)
        self.place = place

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        shared: Tensor = _TeamSumGradient.apply(weight, self.place)
        return h @ shared

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        shared: Tensor = _TeamSumGradient.apply(bias, self.place)
        return h + shared

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        shared: Tensor = _TeamSumGradient.apply(factor, self.place)
        return h * shared

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        """Local scores of rows ``B[i]`` (every column is here); each replica uses them for
        its own stages' edges, so their gradient is summed over the replicas."""
        heads, width = attention.shape
        shared = sum_gradient(attention, self.place.comm, self.place.grid.group("row"),
                              self.place.teams, BACKWARD_ATTENTION)
        scores = partial_head_scores(h, shared, (0, heads * width))
        return sum_gradient(scores, self.place.comm, self.place.grid.group("rep"),
                            self.place.replication, BACKWARD_ATTENTION)


    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        total = self.global_counts[split_of(self._data, mask)]
        local = F.cross_entropy(logits[mask], self._data.labels[mask], reduction="sum") / total
        value = local.detach().reshape(1).clone()
        with self.place.comm.log.phase(LOSS):
            self.place.comm.all_reduce(value, self.place.grid.group("row"), self.place.teams)
        return local + (value[0] - local).detach()

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        correct = (logits[mask].argmax(dim=1) == self._data.labels[mask]).sum()
        counts = torch.stack([correct, mask.sum()]).to(torch.int64)
        with self.place.comm.log.phase(LOSS):
            self.place.comm.all_reduce(counts, self.place.grid.group("row"), self.place.teams)
        correct_all, total_all = (int(c) for c in counts.tolist())
        return Counts(correct=correct_all, total=total_all)
