"""Rank-side code of the mini-batch equivalence tests (module level, so that spawn can import
it); with no communicator it is the single-process reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from pargnn.config import TrainConfig
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.launch import WorkerContext
from pargnn.dist.phases import GRADIENT_REDUCTION, LOSS, TRAIN
from pargnn.graph.graph import Graph
from pargnn.training.loop import run_epochs
from pargnn.training.minibatch import MiniBatchSession
from pargnn.training.result import TrainResult
from pargnn.training.run import prepare
from pargnn.training.session import build_session

EPOCHS = 20


@dataclass(frozen=True)
class MiniBatchCase:
    model: str
    fanout: str
    batch_size: int = 22  # 45 training vertices: batches of 22, 22 and 1 (empty shares)
    layers: int = 2
    residual: bool = False

    def config(self, dtype: str, nprocs: int) -> TrainConfig:
        return TrainConfig(model=self.model, mode="minibatch", fanout=self.fanout,
                           batch_size=self.batch_size, layers=self.layers, hidden=6, heads=2,
                           dropout=0.3, dtype=dtype, nprocs=nprocs, epochs=EPOCHS, seed=3,
                           residual=self.residual)


def graph(n: int = 101, f: int = 9, classes: int = 4, seed: int = 5) -> Graph:
    """Directed, hubs and leaves, 3 isolated vertices; 45 training vertices."""
    rng = np.random.default_rng(seed)
    heavy = 1.0 / np.arange(1, n - 2) ** 0.8
    dst = rng.choice(n - 3, size=700, p=heavy / heavy.sum())
    src = rng.integers(0, n - 3, size=700)
    keep = src != dst
    adj = sp.csr_array((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    adj.sum_duplicates()
    adj.data[:] = 1.0
    order = rng.permutation(n)
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][order[:45]] = masks[1][order[45:70]] = masks[2][order[70:]] = True
    return Graph.from_scipy("random-minibatch", adj, features=rng.standard_normal((n, f)),
                            labels=rng.integers(0, classes, n), train_mask=masks[0],
                            val_mask=masks[1], test_mask=masks[2], num_classes=classes)


def _session(case: MiniBatchCase, dtype: str, nprocs: int,
             comm: Communicator | None) -> MiniBatchSession:
    config = case.config(dtype, nprocs)
    session = build_session(prepare(graph(), config), config, torch.device("cpu"), comm=comm)
    assert isinstance(session, MiniBatchSession)
    return session


def gradient_steps(case: MiniBatchCase, nprocs: int, comm: Communicator | None
                   ) -> list[dict[str, Any]]:
    """Float64: every global batch of epoch 1, its loss and the gradient of every
    parameter (after the reduction) and the bytes its collectives logged."""
    session = _session(case, "float64", nprocs, comm)
    schedule, log = session.schedule, session.schedule.reducer.comm.log
    out = []
    for index, size, seeds in schedule.batches.batches(1):
        schedule.model.zero_grad(set_to_none=True)
        log.reset()
        loss = schedule.batch_gradients(1, index, size, seeds)
        out.append({"loss": float(loss),
                    "grads": {n: p.grad.clone() for n, p in schedule.model.named_parameters()
                              if p.grad is not None},
                    "bytes": {phase: log.total(phase).bytes
                              for phase in (GRADIENT_REDUCTION, LOSS)},
                    "calls": log.total(GRADIENT_REDUCTION).calls})
    return out


def trajectory(case: MiniBatchCase, nprocs: int, comm: Communicator | None) -> dict[str, Any]:
    """Float32: the loss and accuracies of every epoch over EPOCHS epochs, and the bytes
    the training steps sent."""
    session = _session(case, "float32", nprocs, comm)
    config = case.config("float32", nprocs)
    result = TrainResult(config=config, dataset={}, device="cpu")
    log = session.schedule.reducer.comm.log
    run_epochs(session.schedule, EPOCHS, result, log=log)
    return {"losses": [e.loss for e in result.epochs],
            "accuracies": [(e.train_acc, e.val_acc, e.test_acc) for e in result.epochs],
            "train_bytes": log.total(TRAIN).bytes, "estimate": session.estimate(),
            "steps": session.schedule.batches.steps_per_epoch}


def divergence_is_caught(ctx: WorkerContext) -> bool:
    """Perturb one parameter on the last rank only: the replica check must raise on every
    rank (it compares all ranks' fingerprints, so all see the difference)."""
    session = _session(MiniBatchCase("sage", "3,2"), "float64", ctx.world_size,
                       Communicator(CommLog()))
    session.schedule.evaluate()  # identical replicas pass
    if ctx.rank == ctx.world_size - 1:
        with torch.no_grad():
            next(session.model.parameters()).view(-1)[0] += 1e-12
    try:
        session.schedule.evaluate()
    except RuntimeError as error:
        return "replicas diverged" in str(error)
    return False


def run_cases(ctx: WorkerContext, cases: list[MiniBatchCase]) -> list[dict[str, Any]]:
    """Every case on this rank of the group, then the divergence check."""
    out = []
    for case in cases:
        comm = Communicator(CommLog())
        out.append({"steps": gradient_steps(case, ctx.world_size, comm),
                    "trajectory": trajectory(case, ctx.world_size, Communicator(CommLog()))})
    out.append({"divergence_caught": divergence_is_caught(ctx)})
    return out
