"""The reference training step: what a collective costs inside training, beyond its fit.

Why: calibration times each collective in a loop of its own and each kernel alone, and the
planner adds them up. A training step is not that sum. Between two collectives a rank
computes, so the collective waits for the slowest rank to arrive; a rank that blocked on the
previous one must be woken and scheduled again; and the small differences in speed between
ranks add up phase by phase, where a sum over the whole step would let them cancel. On the
2-core machine this was built on, each collective in a training step cost 1-2 ms more at
P = 2 than the same call in a loop of its own, and a synthetic loop of products between
collectives reproduced only a fraction of it.

So calibration also trains a fixed reference model -- a 2-layer GCN with 1D on a synthetic
stochastic block model graph, the same on every machine (:data:`REFERENCE`) -- for a few
steps on its ``P`` processes, and the planner predicts that step from the fits just measured.
What the measured step exceeds the prediction by, divided by the step's collective calls, is
the profile's ``sync_seconds``: the planner adds it to every collective call of every
candidate. It is a correction measured on one workload and spread over calls, not a model
of its causes; ``benchmarks/planner`` says how well it carries to other graphs and layouts.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import torch

from pargnn.cost.planner import Candidate, Problem, measured_locality, predict
from pargnn.cost.profile import Profile
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.grid import plan_grid
from pargnn.dist.launch import WorkerContext
from pargnn.graph.datasets import load_dataset
from pargnn.training.config import TrainConfig
from pargnn.training.distributed import build_algorithm
from pargnn.training.loop import train_epoch
from pargnn.training.setup import build_model

REFERENCE = "sbm:nodes=12000,blocks=12,degree=10,homophily=0.8,features=64,seed=7"
QUICK_REFERENCE = "sbm:nodes=3000,blocks=6,degree=8,homophily=0.8,features=32,seed=7"
HIDDEN = 64
WARM_UP, TIMED = 3, 9
QUICK_WARM_UP, QUICK_TIMED = 2, 4


def reference_config(nprocs: int, quick: bool) -> TrainConfig:
    """The reference run on ``nprocs`` processes."""
    return TrainConfig(dataset=QUICK_REFERENCE if quick else REFERENCE, hidden=HIDDEN,
                       algo="1d", nprocs=nprocs, dtype="float32")


def reference_step_seconds(ctx: WorkerContext, quick: bool) -> float:
    """Train the reference model on this worker's rank; the median of its timed steps.

    Every rank of the calibration calls this at the same point, as training would.
    """
    config = reference_config(ctx.world_size, quick)
    graph = load_dataset(config.dataset)
    algorithm = build_algorithm(graph, config, plan_grid("1d", ctx.world_size),
                                Communicator(CommLog()), ctx.device)
    model = build_model(config, graph).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    warm_up, timed = (QUICK_WARM_UP, QUICK_TIMED) if quick else (WARM_UP, TIMED)
    seconds = []
    for epoch in range(warm_up + timed):
        start = time.perf_counter()
        train_epoch(model, algorithm, optimizer, epoch)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        if epoch >= warm_up:
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def sync_from_reference(measured: float, profile: Profile, quick: bool) -> float:
    """Seconds per collective call by which the measured reference step (the slowest rank's
    median) exceeds its prediction from ``profile`` without any sync term; 0 when the
    prediction is not below the measurement."""
    config = reference_config(profile.nprocs, quick)
    problem = Problem.from_graph(load_dataset(config.dataset), config)
    candidate = Candidate(plan_grid("1d", profile.nprocs))
    unsynced = dataclasses.replace(profile, sync_seconds=0.0)
    locality: float | tuple[float, ...] = 1.0
    if profile.device == "cpu":
        locality = measured_locality(problem, lambda parts, method: None)(candidate)
    prediction = predict(problem, candidate, unsynced, lambda parts, method: None,
                         locality=locality)
    if prediction is None or prediction.messages == 0:
        return 0.0
    return max(0.0, (measured - prediction.epoch_seconds) / prediction.messages)
