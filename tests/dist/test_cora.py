"""Distributed runs on Cora: one step equals the float64 reference, and a 20-epoch float32
training run with dropout follows the single-process loss trajectory at every P and algorithm.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pargnn import train
from pargnn.dist.launch import launch
from pargnn.graph.datasets import load_dataset
from pargnn.graph.graph import Graph
from tests.conftest import SHARED_DATASETS
from tests.dist.equivalence_worker import Case, run_cora_cases, trajectory_config
from tests.dist.test_equivalence import compare

LAYOUTS = [
    Case("1d", 2), Case("1d", 3), Case("1d", 4, permute=True),
    Case("1.5d", 4, replication=2), Case("1.5d", 8, replication=2),
    Case("2d", 2, "1x2"), Case("2d", 4, "2x2"), Case("2d", 6, "2x3"), Case("2d", 6, "3x2"),
    Case("3d", 4, "1x2x2"), Case("3d", 8, "2x2x2"),
]
CASES = LAYOUTS + [replace(c, model="gat") for c in LAYOUTS]


@cache
def cora() -> Graph:
    return load_dataset("cora", SHARED_DATASETS)


@cache
def run_world(world: int) -> list[list[dict[str, Any]]]:
    cases = [c for c in CASES if c.nprocs == world]
    per_rank = launch(run_cora_cases, (cora(), cases, str(SHARED_DATASETS)), world,
                      threads_per_process=1)
    return [[per_rank[rank][k] for rank in range(world)] for k in range(len(cases))]


@cache
def single_process_losses(model: str) -> list[float]:
    """The reference trajectory (a permuted distributed run must follow it too: dropout keys
    use the original vertex ids)."""
    config = trajectory_config(Case("1d", 1, model=model), str(SHARED_DATASETS))
    return [e.loss for e in train(config.replace(nprocs=1, threads=2)).epochs]


def case_id(c: Case) -> str:
    return (f"{c.model}-{c.algo}-P{c.nprocs}-{c.grid or c.replication or ''}"
            f"{'-perm' if c.permute else ''}")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cora_step_and_trajectory(case: Case, shared_datasets: Path) -> None:
    cases = [c for c in CASES if c.nprocs == case.nprocs]
    results = run_world(case.nprocs)[cases.index(case)]
    compare(cora(), case, results)
    losses = results[0]["losses"]
    expected = single_process_losses(case.model)
    assert len(losses) == len(expected) == 20
    for epoch, (got, want) in enumerate(zip(losses, expected, strict=True)):
        assert got == pytest.approx(want, rel=1e-4), f"epoch {epoch}: {got} vs {want}"
    assert losses[-1] < losses[0]
