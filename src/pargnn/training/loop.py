"""The epoch loop: run a schedule's steps, evaluate, keep the record. Nothing else.

Each epoch asks the :class:`~pargnn.schedule.base.StepSchedule` for its steps and runs them
under the communication log's ``train`` phase, then evaluates under ``evaluation``. The loss
of an epoch is the mean of its steps' losses. The reported test accuracy is the one at the
epoch of the best validation accuracy (the first such epoch on ties; the last epoch when there
are no validation vertices). A schedule that trains nothing is evaluated once, and that pass
is the epoch's time.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import torch

from pargnn.dist.comm import CommLog
from pargnn.dist.phases import EVALUATION, TRAIN
from pargnn.schedule.base import StepSchedule
from pargnn.training.memory import training_state_peak
from pargnn.training.result import EpochRecord, TrainResult


class TrainObserver(Protocol):
    """Receives progress; the CLI's progress bar and summary table implement it."""

    def start(self, result: TrainResult) -> None: ...

    def epoch(self, record: EpochRecord) -> None: ...

    def end(self, result: TrainResult) -> None: ...


def _run_steps(schedule: StepSchedule, epoch: int, traced: bool, device: torch.device,
               result: TrainResult) -> float | None:
    """The epoch's steps; the mean loss (``None`` without steps). With ``traced``, the first
    step also measures the training state's peak in tensor bytes."""
    losses = []
    for index, step in enumerate(schedule.steps(epoch)):
        if traced and index == 0:
            loss, result.tensor_peak_bytes = training_state_peak(step, device)
        else:
            loss = step()
        losses.append(loss)
    return sum(losses) / len(losses) if losses else None


def _keep_best(result: TrainResult, record: EpochRecord) -> None:
    """Best validation accuracy so far (the last epoch when there is no validation split)."""
    no_validation = math.isnan(record.val_acc)
    if result.best_epoch < 0 or no_validation or record.val_acc > result.val_acc:
        result.best_epoch, result.val_acc, result.test_acc = (record.epoch, record.val_acc,
                                                              record.test_acc)


def run_epochs(schedule: StepSchedule, epochs: int, result: TrainResult,
               observer: TrainObserver | None = None, log: CommLog | None = None,
               comm_seconds: list[float] | None = None, trace_memory: bool = False,
               device: torch.device | None = None) -> None:
    """Run ``epochs`` epochs of ``schedule`` (one evaluation if it trains nothing), filling
    ``result`` as it goes.

    With a communication ``log``, ``comm_seconds`` receives each epoch's seconds spent in the
    training steps' collectives. With ``trace_memory`` the first step of the second epoch (of
    the first in a one-epoch run) also measures the training state in tensor bytes on
    ``device`` (:func:`~pargnn.training.memory.training_state_peak`): the optimiser's state
    exists by then.
    """
    log = log or CommLog()
    epochs = epochs if schedule.trains else 1
    traced = min(1, epochs - 1) if trace_memory else -1
    for epoch in range(epochs):
        before = log.total(TRAIN).seconds
        start = time.perf_counter()
        with log.phase(TRAIN):
            loss = _run_steps(schedule, epoch, epoch == traced, device or torch.device("cpu"),
                              result)
        seconds = time.perf_counter() - start
        communicated = log.total(TRAIN).seconds - before
        if comm_seconds is not None:
            comm_seconds.append(communicated)
        with log.phase(EVALUATION):
            accuracies = schedule.evaluate()
        if not schedule.trains:  # its one pass is the computation: count it as the epoch
            seconds = time.perf_counter() - start
        record = EpochRecord(epoch, loss, *accuracies, seconds, communicated)
        result.epochs.append(record)
        _keep_best(result, record)
        if observer is not None:
            observer.epoch(record)

