"""Data-parallel mini-batch training computes what one process computes.

With the same seed and global batch size, ``P`` ranks each take their share of every global
batch; after the gradient all-reduce every rank must hold the gradient one process computes
for the whole batch (float64, 1e-8, every batch of an epoch including one whose shares are
empty on some ranks), and 20 epochs of float32 training must follow the same loss trajectory
(rel 1e-4). The bytes each step's collectives log must equal the exact model
(:mod:`pargnn.cost.data_parallel`). One group of processes per world size runs every case.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import torch

from pargnn.cost.data_parallel import data_parallel_step
from pargnn.dist.launch import launch
from tests.dist.minibatch_worker import (
    MiniBatchCase,
    gradient_steps,
    run_cases,
    trajectory,
)

CASES = [MiniBatchCase("gcn", "3,2"), MiniBatchCase("sage", "4,3"),
         MiniBatchCase("gat", "3,2"), MiniBatchCase("gin", "2,2"),
         MiniBatchCase("gcn", "-1,3", batch_size=10, layers=2),
         MiniBatchCase("sage", "2,3,2", batch_size=16, layers=3),
         MiniBatchCase("gat", "2,2,2", batch_size=16, layers=3, residual=True)]
WORLDS = (2, 3, 4)


@cache
def run_world(world: int) -> list[dict[str, Any]]:
    per_rank = launch(run_cases, CASES, world, threads_per_process=1)
    return [[per_rank[rank][k] for rank in range(world)] for k in range(len(CASES) + 1)]


@cache
def reference(case: MiniBatchCase) -> dict[str, Any]:
    return {"steps": gradient_steps(case, 1, None), "trajectory": trajectory(case, 1, None)}


def _name(case: MiniBatchCase) -> str:
    return f"{case.model}-f{case.fanout}-b{case.batch_size}{'-residual' if case.residual else ''}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("case", CASES, ids=_name)
def test_every_gradient_equals_one_process(case: MiniBatchCase, world: int) -> None:
    expected = reference(case)["steps"]
    ranks = run_world(world)[CASES.index(case)]
    for rank in ranks:
        assert len(rank["steps"]) == len(expected) >= 2
        for got, want in zip(rank["steps"], expected, strict=True):
            assert got["loss"] == pytest.approx(want["loss"], rel=1e-10)
            assert got["grads"].keys() == want["grads"].keys()
            for name, grad in want["grads"].items():
                torch.testing.assert_close(got["grads"][name], grad, rtol=1e-8, atol=1e-10,
                                           msg=f"{name} at rank {rank}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("case", CASES, ids=_name)
def test_loss_trajectory_equals_one_process(case: MiniBatchCase, world: int) -> None:
    expected = reference(case)["trajectory"]
    for rank in run_world(world)[CASES.index(case)]:
        got = rank["trajectory"]
        assert got["losses"] == pytest.approx(expected["losses"], rel=1e-4)
        assert got["accuracies"][-1] == pytest.approx(expected["accuracies"][-1], abs=0.03)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("world", WORLDS)
def test_logged_bytes_are_the_exact_model(world: int) -> None:
    for case, ranks in zip(CASES, run_world(world)[:len(CASES)], strict=True):
        for rank in ranks:
            numels = rank["trajectory"]["estimate"]["parameters"]
            assert isinstance(numels, int)
            for step in rank["steps"]:
                model = data_parallel_step(_numels(case), 8, world)
                assert step["bytes"]["gradient_reduction"] == sum(model.gradient_calls)
                assert step["calls"] == len(model.gradient_calls)
                assert step["bytes"]["loss"] == model.loss_bytes == 8
            per_step = data_parallel_step(_numels(case), 4, world).bytes
            assert rank["trajectory"]["train_bytes"] == (
                per_step * rank["trajectory"]["steps"] * 20)
            assert rank["trajectory"]["estimate"]["allreduce_bytes_per_step"] == per_step


def _numels(case: MiniBatchCase) -> list[int]:
    steps = reference(case)["steps"][0]["grads"]
    return [g.numel() for g in steps.values()]


def test_one_process_sends_nothing() -> None:
    for step in reference(CASES[0])["steps"]:
        assert step["bytes"] == {"gradient_reduction": 0, "loss": 0}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("world", WORLDS)
def test_diverged_replicas_are_caught(world: int) -> None:
    assert all(rank["divergence_caught"] for rank in run_world(world)[len(CASES)])
