"""No optimisation at all: a model without parameters (label propagation) is evaluated once.

Its forward pass is the whole computation (``K`` propagation steps from the training labels);
there is nothing to differentiate and no epoch to repeat, so the loop runs one evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from pargnn.algorithms.contract import Algorithm
from pargnn.schedule.base import Accuracies, Step
from pargnn.schedule.full_graph import evaluate


class PropagationSchedule:
    """Evaluate ``model`` through ``algorithm``; no steps."""

    trains = False

    def __init__(self, model: nn.Module, algorithm: Algorithm) -> None:
        self.model, self.algorithm = model, algorithm

    def steps(self, epoch: int) -> Iterator[Step]:
        return iter(())

    def evaluate(self) -> Accuracies:
        return evaluate(self.model, self.algorithm)
