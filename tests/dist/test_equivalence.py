"""The transparency test: every distributed algorithm computes what one process computes.

For each configuration, one training step (dropout on, float64) runs on a process grid; the
assembled logits, the loss and the gradient of every weight must equal the single-process
float64 reference. Label propagation (no parameters) is checked on its output and its
evaluation pass instead. The graph is directed, its size divisible by none of the world sizes, and
it has isolated vertices. One group of processes is spawned per world size and runs every
configuration of that size.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pargnn.algorithms.exact import predict_epoch
from pargnn.algorithms.prepare import in_run_order
from pargnn.algorithms.registry import REPLICATED, plan_grid
from pargnn.cost.traffic import Traffic
from pargnn.dist.launch import launch
from pargnn.dist.phases import EVALUATION, TRAIN
from pargnn.graph.graph import Graph
from pargnn.graph.partition import partition_graph
from pargnn.config import TrainConfig
from pargnn.planner.problem import model_steps
from pargnn.training.run import prepare
from pargnn.training.session import build_session
from tests.dist.equivalence_worker import Case, propagation_config, run_cases

DROPOUT, EPOCH = 0.5, 3

LAYOUTS = [
    Case("1d", 2), Case("1d", 3), Case("1d", 4), Case("1d", 4, permute=True),
    Case("1.5d", 4, replication=2), Case("1.5d", 8, replication=2),
    Case("2d", 2, "1x2"), Case("2d", 4, "2x2"), Case("2d", 6, "2x3"), Case("2d", 6, "3x2"),
    Case("3d", 8, "2x2x2"), Case("3d", 4, "1x2x2"),
]
PARTITIONERS = ("block", "random", "metis")
SPARSITY_AWARE = ([Case("sa1d", p, partition=method) for p in (2, 3, 4)
                   for method in PARTITIONERS]
                  + [Case("sa1.5d", 4, replication=2, partition=method)
                     for method in PARTITIONERS]
                  + [Case("sa1.5d", 6, replication=2, partition="metis"),
                     Case("sa1.5d", 8, replication=2, partition="random")])
CASES = ([replace(c, layers=layers) for c in LAYOUTS for layers in (2, 3)]
         + [replace(c, model=model) for c in LAYOUTS for model in ("sage", "gin", "gat")]
         + SPARSITY_AWARE
         + [replace(c, model=model) for c in SPARSITY_AWARE
            if (c.algo, c.nprocs) in (("sa1d", 3), ("sa1.5d", 4))
            for model in ("sage", "gin", "gat")])
PROPAGATION = [replace(c, model="labelprop", layers=4) for c in (
    Case("1d", 2), Case("1d", 3), Case("1d", 4, permute=True), Case("2d", 4, "2x2"),
    Case("2d", 6, "2x3"), Case("3d", 8, "2x2x2"), Case("1.5d", 4, replication=2),
    Case("sa1d", 3, partition="metis"), Case("sa1.5d", 4, replication=2, partition="random"))]
CASES += PROPAGATION
RESIDUAL = [replace(c, model=model, layers=4, residual=True) for c in (
    Case("1d", 3), Case("2d", 6, "2x3"), Case("3d", 8, "2x2x2"), Case("1.5d", 4, replication=2),
    Case("sa1d", 3, partition="metis")) for model in ("gcn", "sage", "gat")]
CASES += RESIDUAL
WORLD_SIZES = sorted({c.nprocs for c in CASES})


def random_graph(n: int = 29, f: int = 10, classes: int = 5, seed: int = 7) -> Graph:
    """Directed, weighted by normalisation only, with 4 isolated vertices; n is prime."""
    rng = np.random.default_rng(seed)
    m = 100
    src, dst = rng.integers(0, n - 4, m), rng.integers(0, n - 4, m)
    keep = src != dst
    adj = sp.csr_array((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    adj.data[:] = 1.0
    labels = rng.integers(0, classes, n)
    split = rng.permutation(n)
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][split[:12]] = masks[1][split[12:20]] = masks[2][split[20:]] = True
    return Graph.from_scipy("random-directed", adj, features=rng.standard_normal((n, f)),
                            labels=labels, train_mask=masks[0], val_mask=masks[1],
                            test_mask=masks[2], num_classes=classes)


def reference(graph: Graph, layers: int, model_name: str = "gcn", heads: int = 3,
              residual: bool = False) -> dict[str, Any]:
    config = TrainConfig(layers=layers, hidden=7, dropout=DROPOUT, dtype="float64",
                         model=model_name, heads=heads, residual=residual)
    session = build_session(prepare(graph, config), config, torch.device("cpu"))
    algorithm, model = session.algorithm, session.model
    logits = model(algorithm, algorithm.data.features, epoch=EPOCH)
    loss = algorithm.cross_entropy(logits, algorithm.data.train_mask)
    loss.backward()
    return {"logits": logits.detach(), "loss": float(loss.detach()),
            "grads": {n: p.grad for n, p in model.named_parameters()}}


def assemble(graph: Graph, results: list[dict[str, Any]]) -> torch.Tensor:
    """Global logits (original vertex order) from every rank's block; replicas must agree."""
    full = torch.full((graph.num_nodes, graph.num_classes), float("nan"), dtype=torch.float64)
    for r in results:
        lo, hi = r["class_range"]
        rows = r["row_ids"]
        previous = full[rows, lo:hi]
        seen = ~torch.isnan(previous)
        torch.testing.assert_close(previous[seen], r["logits"][seen])
        full[rows, lo:hi] = r["logits"]
    return full


def predicted_traffic(graph: Graph, case: Case) -> list[Traffic]:
    """The exact model's traffic of each rank: a training step, or for label propagation
    (which trains nothing) an evaluation pass."""
    training = case.model != "labelprop"
    config = (TrainConfig(layers=case.layers, hidden=7, dropout=DROPOUT, dtype="float64",
                          permute=case.permute, model=case.model, heads=case.heads,
                          residual=case.residual)
              if training else propagation_config(case))
    order = offsets = None
    if case.partition is not None:
        parts = case.nprocs // (case.replication or 1)
        partition = partition_graph(graph.adjacency(), parts, case.partition)
        order, offsets = partition.order, partition.offsets
    prepared = prepare(graph, config)
    prepared = (in_run_order(prepared, config.build_options(torch.device("cpu")))
                if order is None else prepared.reordered(order))
    layers, _ = model_steps(config, graph.num_features, graph.num_classes)
    spec = plan_grid(case.algo, case.nprocs, case.grid, case.replication)
    return predict_epoch(spec, graph.num_nodes, prepared.at, prepared.a, layers,
                         graph.num_classes, value_bytes=8, training=training, offsets=offsets)


def _step_phase(phase: str) -> str:
    """``train/loss`` or ``evaluation/loss`` -> ``loss``: the model's phases are a step's."""
    return phase.removeprefix(f"{TRAIN}/").removeprefix(f"{EVALUATION}/")


def check_traffic(graph: Graph, case: Case, results: list[dict[str, Any]]) -> None:
    """The communication log of every rank equals the exact model, phase by phase and call
    by call (collective and group size, which the planner prices)."""
    for rank, (r, predicted) in enumerate(zip(results, predicted_traffic(graph, case),
                                              strict=True)):
        logged = {_step_phase(phase): stats for phase, stats in r["comm"]["by_phase"].items()}
        assert set(logged) == set(predicted.bytes), f"{case} rank {rank}: phases differ"
        for phase, stats in logged.items():
            assert (stats["calls"], stats["bytes"]) == (
                predicted.calls[phase], predicted.bytes[phase]), f"{case} rank {rank} {phase}"
        calls = {(_step_phase(c["phase"]), c["op"], c["group"]): (c["calls"], c["bytes"])
                 for c in r["comm"]["by_call"]}
        expected = {key: (predicted.call_counts[key], predicted.call_bytes[key])
                    for key in predicted.call_counts}
        differ = {k: (calls.get(k), expected.get(k)) for k in set(calls) | set(expected)
                  if calls.get(k) != expected.get(k)}
        assert not differ, f"{case} rank {rank}: calls differ (logged, model): {differ}"


def check_no_full_copy(graph: Graph, case: Case, results: list[dict[str, Any]]) -> None:
    """Each rank keeps only its block of the features (1.5D: its block row, c times over)."""
    held = sum(r["feature_shape"][0] * r["feature_shape"][1] for r in results)
    copies = case.replication if case.algo in REPLICATED and case.replication else 1
    assert held == copies * graph.num_nodes * graph.num_features
    assert all(r["feature_shape"][0] * r["feature_shape"][1]
               < graph.num_nodes * graph.num_features for r in results)


def compare(graph: Graph, case: Case, results: list[dict[str, Any]]) -> None:
    check_no_full_copy(graph, case, results)
    check_traffic(graph, case, results)
    ref = reference(graph, case.layers, case.model, case.heads, case.residual)
    logits = assemble(graph, results)
    assert not torch.isnan(logits).any(), "some block of the output was never computed"
    torch.testing.assert_close(logits, ref["logits"], rtol=1e-5, atol=1e-8)
    for r in results:
        assert r["loss"] == pytest.approx(ref["loss"], rel=1e-10)
        assert set(r["grads"]) == set(ref["grads"])
        for name, grad in r["grads"].items():
            torch.testing.assert_close(grad, ref["grads"][name], rtol=1e-5, atol=1e-8,
                                       msg=f"{case}: gradient of {name}")


@cache
def run_world(world: int) -> list[list[dict[str, Any]]]:
    """Every case of this world size, on one group; result[case][rank]."""
    cases = [c for c in CASES if c.nprocs == world]
    per_rank = launch(run_cases, (random_graph(), cases, DROPOUT, EPOCH), world,
                      threads_per_process=1)
    return [[per_rank[rank][k] for rank in range(world)] for k in range(len(cases))]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.model}-{c.algo}-P{c.nprocs}-"
                         f"{c.grid or ''}{'rep' + str(c.replication) if c.replication else ''}"
                         f"-L{c.layers}{'-perm' if c.permute else ''}"
                         f"{'-' + c.partition if c.partition else ''}"
                         f"{'-residual' if c.residual else ''}")
def test_matches_single_process_reference(case: Case) -> None:
    cases = [c for c in CASES if c.nprocs == case.nprocs]
    results = run_world(case.nprocs)[cases.index(case)]
    if case.model == "labelprop":
        compare_propagation(random_graph(), case, results)
    else:
        compare(random_graph(), case, results)


def compare_propagation(graph: Graph, case: Case, results: list[dict[str, Any]]) -> None:
    """Label propagation's output and accuracies on every rank equal one process's, and its
    evaluation pass sends what the exact model says."""
    check_no_full_copy(graph, case, results)
    check_traffic(graph, case, results)
    config = propagation_config(replace(case, nprocs=1))
    session = build_session(prepare(graph, config), config, torch.device("cpu"))
    logits = session.model(session.algorithm, session.algorithm.data.features)
    torch.testing.assert_close(assemble(graph, results), logits, rtol=1e-12, atol=1e-14)
    expected = tuple(session.schedule.evaluate())
    assert all(r["accuracies"] == expected for r in results)
