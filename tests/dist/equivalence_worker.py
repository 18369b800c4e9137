"""Rank-side code of the equivalence tests (module level, so that spawn can import it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.phases import EVALUATION
from pargnn.graph.graph import Graph
from pargnn.training.rank import RankJob
from pargnn.training.run import prepare
from pargnn.training.session import build_session


@dataclass(frozen=True)
class Case:
    """One distributed configuration to compare with the single-process reference."""

    algo: str
    nprocs: int
    grid: str | None = None
    replication: int | None = None
    layers: int = 2
    permute: bool = False
    model: str = "gcn"
    heads: int = 3  # GAT: 3 heads of 7 columns, so that column slices cut through heads
    partition: str | None = None  # sparsity-aware algorithms
    residual: bool = False


def one_step(graph: Graph, case: Case, dropout: float, epoch: int) -> dict[str, Any]:
    """Forward with dropout, global loss, backward; what this rank saw and holds."""
    config = TrainConfig(dataset=graph.name, nprocs=case.nprocs, algo=case.algo, grid=case.grid,
                         replication=case.replication, layers=case.layers, hidden=7,
                         dropout=dropout, dtype="float64", permute=case.permute,
                         model=case.model, heads=case.heads, partition=case.partition,
                         residual=case.residual)
    spec = plan_grid(case.algo, case.nprocs, case.grid, case.replication)
    log = CommLog()
    session = build_session(prepare(graph, config), config, torch.device("cpu"), spec,
                            Communicator(log))
    algorithm, model = session.algorithm, session.model
    model.train()
    log.reset()
    with log.phase("train"):
        logits = model(algorithm, algorithm.data.features, epoch=epoch)
        loss = algorithm.cross_entropy(logits, algorithm.data.train_mask)
        loss.backward()
    return {
        "row_ids": algorithm.data.row_ids.clone(),
        "feature_shape": tuple(algorithm.data.features.shape),
        "class_range": algorithm.columns(graph.num_classes),
        "logits": logits.detach().clone(),
        "loss": float(loss.detach()),
        "grads": {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
        "comm": log.as_dict(),
    }


def propagation_config(case: Case) -> TrainConfig:
    """Label propagation (``case.layers`` iterations) in float64 on ``case``'s layout."""
    return TrainConfig(nprocs=case.nprocs, algo=case.algo, grid=case.grid,
                       replication=case.replication, layers=case.layers, model="labelprop",
                       dtype="float64", permute=case.permute, partition=case.partition)


def propagate(graph: Graph, case: Case) -> dict[str, Any]:
    """Label propagation's output and its evaluation pass (logged) on this rank."""
    config = propagation_config(case)
    spec = plan_grid(case.algo, case.nprocs, case.grid, case.replication)
    log = CommLog()
    session = build_session(prepare(graph, config), config, torch.device("cpu"), spec,
                            Communicator(log))
    algorithm = session.algorithm
    logits = session.model(algorithm, algorithm.data.features)
    log.reset()
    with log.phase(EVALUATION):
        accuracies = session.schedule.evaluate()
    return {"row_ids": algorithm.data.row_ids.clone(),
            "feature_shape": tuple(algorithm.data.features.shape),
            "class_range": algorithm.columns(graph.num_classes), "logits": logits.clone(),
            "accuracies": tuple(accuracies), "comm": log.as_dict()}


def run_cases(ctx: Any, payload: tuple[Graph, list[Case], float, int]) -> list[dict[str, Any]]:
    graph, cases, dropout, epoch = payload
    return [propagate(graph, case) if case.model == "labelprop"
            else one_step(graph, case, dropout, epoch)
            for case in cases if case.nprocs == ctx.world_size]


def trajectory_config(case: Case, data_root: str) -> TrainConfig:
    """A 20-epoch float32 Cora run with dropout, as the trajectory test trains it."""
    return TrainConfig(dataset="cora", data_root=data_root, nprocs=case.nprocs, algo=case.algo,
                       grid=case.grid, replication=case.replication, layers=case.layers,
                       epochs=20, quiet=True, permute=case.permute, model=case.model,
                       heads=case.heads)


def run_cora_cases(ctx: Any, payload: tuple[Graph, list[Case], str]) -> list[dict[str, Any]]:
    """For each case of this world size: one float64 step (outputs, gradients) and the losses
    of a 20-epoch float32 training run."""
    from pargnn.training.rank import rank_main

    graph, cases, data_root = payload
    out = []
    for case in cases:
        if case.nprocs != ctx.world_size:
            continue
        step = one_step(graph, case, dropout=0.5, epoch=3)
        config = trajectory_config(case, data_root)
        report = rank_main(ctx, RankJob(config, prepare(graph, config)))
        step["losses"] = [e.loss for e in report.result.epochs] if report.result else None
        out.append(step)
    return out
