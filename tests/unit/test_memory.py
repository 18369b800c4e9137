"""Tensor-byte measurement of the training state, and the memory model against it."""

from __future__ import annotations

import numpy as np
import torch

from pargnn.cost.locality import locality_factor, part_factors, sample_rows, scattered_like
from pargnn.cost.planner import Candidate, Problem, predict
from pargnn.cost.profile import load_profile
from pargnn.dist.grid import plan_grid
from pargnn.graph.datasets import load_dataset
from pargnn.training.config import TrainConfig
from pargnn.training.loop import train
from pargnn.training.memory import live_tensor_bytes, step_peak_tensor_bytes

CPU = torch.device("cpu")
MEDIUM = "sbm:nodes=6000,blocks=8,degree=8,homophily=0.9,features=48,seed=2"


def test_live_tensor_bytes_sees_a_new_tensor_once_with_its_views() -> None:
    before = live_tensor_bytes(CPU)
    block = torch.zeros(1000, 1000)  # 4 MB
    views = [block[:10], block.T]
    after = live_tensor_bytes(CPU)
    assert 4_000_000 <= after - before < 4_100_000
    del block, views


def test_step_peak_counts_temporaries_that_are_freed() -> None:
    def step() -> float:
        big = torch.ones(2000, 1000)  # 8 MB, freed before the step returns
        small = big.sum(dim=0)
        return float(small[0])

    value, peak = step_peak_tensor_bytes(step, CPU)
    assert value == 2000.0
    assert 8_000_000 <= peak < 8_200_000


def test_memory_model_is_within_a_quarter_of_the_traced_state() -> None:
    config = TrainConfig(dataset=MEDIUM, hidden=32, epochs=2, trace_memory=True, quiet=True)
    result = train(config)
    assert result.tensor_peak_bytes is not None
    graph = load_dataset(MEDIUM, None)
    prediction = predict(Problem.from_graph(graph, config), Candidate(plan_grid("1d", 1)),
                         load_profile("local-default"), lambda parts, method: None)
    assert prediction is not None
    ratio = prediction.memory_bytes / result.tensor_peak_bytes
    assert 0.75 <= ratio <= 1.25, ratio
    assert result.to_dict()["memory"]["tensor_peak_bytes"] == result.tensor_peak_bytes


def test_locality_probe_keeps_rows_and_moves_columns() -> None:
    """The probe's two matrices differ only in where each row's non-zeros lie (its timing is
    a measurement, compared in benchmarks/planner, not asserted here)."""
    at = load_dataset(MEDIUM, None).adjacency().tocsr()
    order = np.random.default_rng(0).permutation(at.shape[0])
    for sample in (sample_rows(at, None), sample_rows(at, order)):
        scattered = scattered_like(sample)
        assert sample.shape == scattered.shape == (sample.shape[0], at.shape[1])
        assert (sample.indptr == scattered.indptr).all()
        assert not (sample.indices == scattered.indices).all()
    renumbered = sample_rows(at, order)
    first = order[0]
    assert sorted(renumbered[[0]].indices) == sorted(np.argsort(order)[at[[first]].indices])
    assert locality_factor(at) > 0


def test_each_part_is_probed_on_its_own_rows() -> None:
    """A part's sample never leaves the part, and every part gets a factor (an empty one,
    the neutral 1)."""
    at = load_dataset(MEDIUM, None).adjacency().tocsr()
    order = np.random.default_rng(1).permutation(at.shape[0])
    offsets = np.array([0, 300, 300, at.shape[0]])
    degrees = np.diff(at.indptr)
    part_nnz = int(degrees[order[:300]].sum())
    sample = sample_rows(at, order, start=0, nnz=part_nnz)
    assert sample.shape[0] <= 300 and sample.nnz <= part_nnz
    later = sample_rows(at, order, start=300, nnz=10**9)
    assert later.shape[0] == at.shape[0] - 300
    factors = part_factors(at, order, offsets)
    assert len(factors) == 3 and factors[1] == 1.0
    assert all(f > 0 for f in factors)
