"""The protocol between the epoch loop and the schedules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol

Step = Callable[[], float]  # one optimisation step: forward, backward, update; returns the loss


class Accuracies(NamedTuple):
    """Global train, validation and test accuracy (NaN for an empty split)."""

    train: float
    val: float
    test: float


class StepSchedule(Protocol):
    """What the epoch loop asks of a schedule.

    ``trains`` is false for a schedule with nothing to optimise: the loop then runs one
    evaluation and no epochs.
    """

    @property
    def trains(self) -> bool: ...

    def steps(self, epoch: int) -> Iterator[Step]:
        """The optimisation steps of ``epoch``, in order; each runs when called."""
        ...

    def evaluate(self) -> Accuracies:
        """Accuracy of the current model on every split, without dropout."""
        ...
