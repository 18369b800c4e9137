"""The planner: its counts are the exact model's, its table is sorted, its choice fits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from pargnn.algorithms.exact import predict_epoch
from pargnn.cli import EXIT_USER_ERROR, main
from pargnn.config import TrainConfig
from pargnn.graph.datasets import load_dataset
from pargnn.graph.partition import halo_matrix, part_matrices, partition_graph
from pargnn.planner.auto import plan_training
from pargnn.planner.planner import candidates, make_plan
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import load_profile
from pargnn.training.run import prepare
from tests.dist.test_equivalence import random_graph

SMALL = "sbm:nodes=300,blocks=3,p_in=0.05,p_out=0.005,features=8,seed=1"


def test_candidates_cover_every_algorithm_once() -> None:
    labels = [c.label for c in candidates(8)]
    assert len(labels) == len(set(labels))
    assert {c.algorithm for c in candidates(8)} == {"1d", "1.5d", "2d", "3d", "sa1d", "sa1.5d"}
    assert "2d 8x1" not in labels and "3d 2x4x1" not in labels  # those are 1D and 2D
    assert {c.algorithm for c in candidates(3)} == {"1d", "2d", "3d", "sa1d"}  # no c > 1
    for c in candidates(6):
        assert c.spec.size == 6


def test_part_matrices_match_the_halo_of_the_reordered_graph() -> None:
    graph = random_graph()
    config = TrainConfig(dataset=graph.name)
    for method in ("block", "random", "metis"):
        partition = partition_graph(graph.adjacency(), 3, method)
        prepared = prepare(graph, config).reordered(partition.order)
        part_of = np.empty(graph.num_nodes, dtype=np.int64)
        part_of[partition.order] = np.repeat(np.arange(3), partition.sizes())
        need, nnz = part_matrices(prepare(graph, config).at, part_of, 3)
        np.testing.assert_array_equal(need, halo_matrix(prepared.at, partition.offsets))
        assert nnz.sum() == prepared.at.nnz


@pytest.mark.parametrize("model", ["gcn", "gat", "sage"])
def test_planner_counts_are_the_exact_model(model: str) -> None:
    """Every candidate's bytes and calls per rank equal predict_epoch on the matrices training
    builds (the planner counts from the pattern alone, without reordering)."""
    graph = random_graph()
    config = TrainConfig(dataset=graph.name, model=model, hidden=7, heads=3)
    problem = problem_for(prepare(graph, config), config)
    adjacency = graph.adjacency()
    plan = make_plan(problem, 4, load_profile(None),
                     lambda parts, method: partition_graph(adjacency, parts, method))
    assert len(plan.predictions) == len(candidates(4))
    for prediction in plan.predictions:
        spec, method = prediction.candidate.spec, prediction.candidate.partition
        order = offsets = None
        if method is not None:
            parts = prediction.candidate.family.parts(spec)  # type: ignore[misc]
            partition = partition_graph(adjacency, parts, method)
            order, offsets = partition.order, partition.offsets
        prepared = prepare(graph, config)
        prepared = prepared if order is None else prepared.reordered(order)
        expected = predict_epoch(spec, graph.num_nodes, prepared.at, prepared.a,
                                 problem.layers, graph.num_classes, 4, offsets=offsets)
        assert [r.traffic.call_bytes for r in prediction.ranks] == [
            t.call_bytes for t in expected], prediction.candidate.label
        assert [r.traffic.call_counts for r in prediction.ranks] == [
            t.call_counts for t in expected], prediction.candidate.label


def test_plan_is_sorted_and_never_chooses_what_does_not_fit() -> None:
    config = TrainConfig(dataset=SMALL)
    graph = prepare(load_dataset(SMALL, None), config)
    profile = load_profile(None)
    plan = plan_training(graph, config, 4, profile, quick=True)
    times = [p.epoch_seconds for p in plan.predictions]
    assert times == sorted(times)
    assert plan.choice is plan.predictions[0]
    assert plan.choice.candidate.label in plan.explanation()
    smallest = min(p.memory_bytes for p in plan.predictions)
    largest = max(p.memory_bytes for p in plan.predictions)
    assert smallest < largest
    tight = dataclasses.replace(profile, memory_bytes=smallest)
    tight_plan = plan_training(graph, config, 4, tight, quick=True)
    assert tight_plan.choice is not None and tight_plan.choice.memory_bytes <= smallest
    assert any(not p.fits for p in tight_plan.predictions)
    none_fit = plan_training(graph, config, 4, dataclasses.replace(profile, memory_bytes=1),
                             quick=True)
    assert none_fit.choice is None and "No layout fits" in none_fit.explanation()


def test_prediction_parts_add_up() -> None:
    config = TrainConfig(dataset=SMALL)
    graph = prepare(load_dataset(SMALL, None), config)
    plan = plan_training(graph, config, 2, load_profile(None), quick=True)
    for p in plan.predictions:
        for rank in p.ranks:
            assert rank.comm_seconds > 0 and rank.compute_seconds > 0
            assert rank.memory.total == sum(v for k, v in rank.memory.as_dict().items()
                                            if k != "total")
        assert p.epoch_seconds == max(r.comm_seconds + r.compute_seconds for r in p.ranks)


def test_plan_command_prints_the_table_and_writes_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    code = main(["plan", "--dataset", SMALL, "--nprocs", "4", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "No --profile given" in text and "pargnn calibrate" in text
    payload = json.loads(out.read_text())
    assert payload["nprocs"] == 4 and payload["choice"]["label"] in text
    assert len(payload["predictions"]) == len(candidates(4))


@pytest.mark.parametrize("argv,fragment", [
    (["plan", "--dataset", SMALL, "--nprocs", "2", "--profile", "missing.json"],
     "pargnn calibrate --out FILE"),
    (["train", "--dataset", SMALL, "--nprocs", "2", "--algo", "auto", "--grid", "1x2"],
     "--algo auto chooses the grid"),
])
def test_planner_bad_input(argv: list[str], fragment: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == EXIT_USER_ERROR
    assert fragment in captured.err.replace("\n", " ")
