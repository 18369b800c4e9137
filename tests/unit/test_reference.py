"""The reference steps: each sync term is a measured step's excess over its prediction,
per call it is spread over (the measurement itself is a calibration, in tests/dist)."""

from __future__ import annotations

import dataclasses
import functools

import pytest

from pargnn.algorithms.registry import plan_grid
from pargnn.graph.partition import Partition, partition_graph
from pargnn.planner import reference
from pargnn.planner.pace import all_to_all_sync
from pargnn.planner.planner import Candidate, Prediction, predict
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import Profile, load_profile


@pytest.fixture
def calibrated(monkeypatch: pytest.MonkeyPatch) -> Profile:
    """A stand-in for a calibrated CPU profile at P = 2, its sparse products priced by the
    fit instead of timed (a timing would make the prediction unrepeatable)."""
    monkeypatch.setattr(reference, "measured_sparse",
                        lambda problem, partitions, profile: lambda candidate: None)
    return dataclasses.replace(load_profile("local-default"), origin="calibrated",
                               device="cpu", nprocs=2, sync_seconds=0.25,
                               all_to_all_sync_seconds=0.5, reduce_scatter_sync_seconds=0.75)


def test_reference_runs_are_valid_configurations() -> None:
    for quick in (True, False):
        for algo, partition in reference.LAYOUTS:
            config = reference.reference_config(4, quick, algo, partition)
            config.validate()
            assert (config.algo, config.nprocs, config.hidden) == (algo, 4, reference.HIDDEN)
    assert [algo for algo, _ in reference.LAYOUTS] == ["1d", "sa1d", "3d"]


def _predicted(profile: Profile, algo: str, partition: str | None) -> Prediction:
    config = reference.reference_config(2, True)
    graph = reference.reference_graph(config)

    @functools.cache
    def partitions(parts: int, method: str) -> Partition:
        return partition_graph(graph.adjacency, parts, method)

    prediction = predict(problem_for(graph, config),
                         Candidate(plan_grid(algo, 2), partition), profile, partitions)
    assert prediction is not None and prediction.messages > 0
    return prediction


def _calls(prediction: Prediction, collective: str) -> int:
    busiest = max(prediction.ranks, key=lambda r: r.seconds)
    return sum(n for (_, op, _), n in busiest.traffic.call_counts.items() if op == collective)


def test_sync_terms_are_the_excess_per_call(calibrated: Profile) -> None:
    # the profile's own sync terms must not enter the predictions they are measured against
    unsynced = dataclasses.replace(calibrated, sync_seconds=0.0, all_to_all_sync_seconds=0.0,
                                   reduce_scatter_sync_seconds=0.0)
    one_d = _predicted(unsynced, "1d", None)
    step_1d = one_d.epoch_seconds + 0.003 * one_d.messages
    # the sparsity-aware step is predicted with the 1D term, then its all-to-alls carry more
    with_sync = dataclasses.replace(unsynced, sync_seconds=0.003)
    sparse = _predicted(with_sync, "sa1d", "block")
    assert _calls(sparse, "all_to_all") > 0
    step_sparse = sparse.epoch_seconds + 0.002 * _calls(sparse, "all_to_all")
    # the 3D step is predicted with both, then its reduce-scatters carry more
    grid = _predicted(dataclasses.replace(with_sync, all_to_all_sync_seconds=0.002), "3d",
                      None)
    assert _calls(grid, "reduce_scatter") > 0
    step_grid = grid.epoch_seconds + 0.004 * _calls(grid, "reduce_scatter")
    terms = reference.sync_from_reference((step_1d, step_sparse, step_grid), calibrated, True)
    assert terms.sync == pytest.approx(0.003)
    assert terms.all_to_all == pytest.approx(0.002)
    assert terms.reduce_scatter == pytest.approx(0.004)
    # a step measured faster than predicted gives no negative term
    assert reference.sync_from_reference((1e-6,) * 3, calibrated, True) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("term", "collective", "per_call"),
                         [("all_to_all_sync_seconds", "all_to_all", 0.5),
                          ("reduce_scatter_sync_seconds", "reduce_scatter", 0.75)])
def test_extra_term_prices_only_its_collective(calibrated: Profile, term: str,
                                               collective: str, per_call: float) -> None:
    base = dataclasses.replace(calibrated, **{term: 0.0})
    priced = 0
    for algo, partition in reference.LAYOUTS:
        without, with_term = _predicted(base, algo, partition), _predicted(calibrated, algo,
                                                                          partition)
        for a, b in zip(without.ranks, with_term.ranks, strict=True):
            calls = sum(n for (_, op, _), n in a.traffic.call_counts.items()
                        if op == collective)
            assert b.comm_seconds - a.comm_seconds == pytest.approx(per_call * calls)
            priced += calls
    assert priced > 0  # some reference layout calls it


def test_all_to_all_term_is_per_peer(calibrated: Profile) -> None:
    """Measured over all ``nprocs`` processes, the term shrinks with the group: sa1.5d at
    P = 4 with c = 2 exchanges within teams of 2."""
    at_four = dataclasses.replace(calibrated, nprocs=4)
    assert all_to_all_sync(at_four, 4) == pytest.approx(0.5)
    assert all_to_all_sync(at_four, 2) == pytest.approx(0.5 / 3)
    assert all_to_all_sync(at_four, 8) == pytest.approx(0.5 * 7 / 3)
