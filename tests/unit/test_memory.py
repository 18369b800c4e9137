"""Tensor-byte measurement of the training state, and the memory model against it."""

from __future__ import annotations

import torch

from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.graph.datasets import load_dataset
from pargnn.planner.planner import Candidate, predict
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import load_profile
from pargnn.training.memory import live_tensor_bytes, step_peak_tensor_bytes
from pargnn.training.run import prepare, train

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
    config = TrainConfig(dataset=MEDIUM, hidden=32, epochs=2, trace_memory=True, quiet=True,
                         device="cpu")  # the model prices CPU tensors
    result = train(config)
    assert result.tensor_peak_bytes is not None
    graph = load_dataset(MEDIUM, None)
    prediction = predict(problem_for(prepare(graph, config), config), Candidate(plan_grid("1d", 1)),
                         load_profile("local-default"), lambda parts, method: None)
    assert prediction is not None
    ratio = prediction.memory_bytes / result.tensor_peak_bytes
    assert 0.75 <= ratio <= 1.25, ratio
    assert result.to_dict()["memory"]["tensor_peak_bytes"] == result.tensor_peak_bytes
