"""The reference step: the sync term is the measured step's excess over its prediction,
per collective call (the measurement itself is a calibration, in tests/dist)."""

from __future__ import annotations

import dataclasses

import pytest

from pargnn.cost import reference
from pargnn.cost.planner import Candidate, Problem, predict
from pargnn.cost.profile import Profile, load_profile
from pargnn.dist.grid import plan_grid
from pargnn.graph.datasets import load_dataset


@pytest.fixture
def calibrated(monkeypatch: pytest.MonkeyPatch) -> Profile:
    """A stand-in for a calibrated CPU profile at P = 2, with the locality probe (a timing)
    pinned to 1 so that the prediction is repeatable."""
    monkeypatch.setattr(reference, "measured_locality", lambda problem, parts: lambda c: 1.0)
    return dataclasses.replace(load_profile("local-default"), origin="calibrated",
                               device="cpu", nprocs=2, sync_seconds=0.25)


def test_reference_run_is_a_valid_1d_configuration() -> None:
    for quick in (True, False):
        config = reference.reference_config(4, quick)
        config.validate()
        assert (config.algo, config.nprocs, config.hidden) == ("1d", 4, reference.HIDDEN)


def test_sync_is_the_excess_per_call(calibrated: Profile) -> None:
    config = reference.reference_config(2, True)
    problem = Problem.from_graph(load_dataset(config.dataset), config)
    # the profile's own sync term must not enter the prediction it is measured against
    unsynced = dataclasses.replace(calibrated, sync_seconds=0.0)
    prediction = predict(problem, Candidate(plan_grid("1d", 2)), unsynced,
                         lambda parts, method: None)
    assert prediction is not None and prediction.messages > 0
    measured = prediction.epoch_seconds + 0.003 * prediction.messages
    assert reference.sync_from_reference(measured, calibrated, True) == pytest.approx(0.003)
    assert reference.sync_from_reference(prediction.epoch_seconds / 2, calibrated, True) == 0
