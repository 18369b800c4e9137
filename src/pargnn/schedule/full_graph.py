"""One optimisation step per epoch over the whole graph: the full-graph schedule.

A step is one forward pass over the whole graph (dropout keyed by the epoch), the global loss
over the training vertices, one backward pass and one optimiser update; every rank of a
distributed run takes it together, each on its own blocks. Evaluation is one forward pass
without dropout, counted per split.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import torch
from torch import nn

from pargnn.algorithms.contract import Algorithm
from pargnn.schedule.base import Accuracies, Step


def train_step(model: nn.Module, algorithm: Algorithm, optimizer: torch.optim.Optimizer,
               epoch: int) -> float:
    """One forward/backward/update over the whole graph; returns the global training loss.

    The gradients are released after the update, so that between steps a process holds
    only the training state (what ``--trace-memory`` measures at a step's start)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    logits = model(algorithm, algorithm.data.features, epoch=epoch)
    loss = algorithm.cross_entropy(logits, algorithm.data.train_mask)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: nn.Module, algorithm: Algorithm) -> Accuracies:
    """Global train, validation and test accuracy without dropout."""
    model.eval()
    logits = model(algorithm, algorithm.data.features)
    data = algorithm.data
    return Accuracies(*(algorithm.count_correct(logits, mask).accuracy
                        for mask in (data.train_mask, data.val_mask, data.test_mask)))


class FullGraphSchedule:
    """Full-graph training: one step per epoch.

    Args:
        model: a model run through ``algorithm`` (``model(algorithm, x, epoch=...)``).
        algorithm: this process's algorithm.
        optimizer: updates ``model``'s parameters.
    """

    trains = True

    def __init__(self, model: nn.Module, algorithm: Algorithm,
                 optimizer: torch.optim.Optimizer) -> None:
        self.model, self.algorithm, self.optimizer = model, algorithm, optimizer

    def steps(self, epoch: int) -> Iterator[Step]:
        yield partial(train_step, self.model, self.algorithm, self.optimizer, epoch)

    def evaluate(self) -> Accuracies:
        return evaluate(self.model, self.algorithm)
