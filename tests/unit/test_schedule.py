"""The epoch loop runs whatever steps a schedule hands it, and knows nothing of what is in
them; the full-graph schedule and the propagation schedule are two such schedules."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from pargnn.config import TrainConfig
from pargnn.schedule.base import Accuracies, Step
from pargnn.training.loop import run_epochs
from pargnn.training.result import TrainResult


class CountingSchedule:
    """Two steps per epoch with made-up losses; accuracies from a script."""

    trains = True

    def __init__(self, val: list[float]) -> None:
        self.val = val
        self.calls: list[tuple[int, int]] = []
        self.evaluations = 0

    def steps(self, epoch: int) -> Iterator[Step]:
        for index in range(2):
            def step(index: int = index) -> float:
                self.calls.append((epoch, index))
                return float(epoch + index)
            yield step

    def evaluate(self) -> Accuracies:
        self.evaluations += 1
        return Accuracies(0.5, self.val[self.evaluations - 1], 0.1 * self.evaluations)


def _result() -> TrainResult:
    return TrainResult(config=TrainConfig(), dataset={}, device="cpu")


def test_the_loop_runs_every_step_and_averages_their_losses() -> None:
    schedule = CountingSchedule([0.2, 0.6, 0.4])
    result = _result()
    run_epochs(schedule, 3, result)
    assert schedule.calls == [(e, i) for e in range(3) for i in range(2)]
    assert [r.loss for r in result.epochs] == [0.5, 1.5, 2.5]
    assert (result.best_epoch, result.val_acc) == (1, 0.6)
    assert result.test_acc == pytest.approx(0.2)  # the test accuracy of the best epoch


def test_without_validation_the_last_epoch_is_kept() -> None:
    schedule = CountingSchedule([math.nan] * 3)
    result = _result()
    run_epochs(schedule, 3, result)
    assert result.best_epoch == 2 and result.test_acc == pytest.approx(0.3)


class NothingToTrain(CountingSchedule):
    trains = False

    def steps(self, epoch: int) -> Iterator[Step]:
        return iter(())


def test_a_schedule_that_trains_nothing_is_evaluated_once() -> None:
    schedule = NothingToTrain([0.7])
    result = _result()
    run_epochs(schedule, 200, result)
    assert schedule.evaluations == 1 and len(result.epochs) == 1
    assert result.epochs[0].loss is None and result.val_acc == 0.7
