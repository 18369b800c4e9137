"""The reference training step: what a collective costs inside training, beyond its fit.

Why: calibration times each collective in a loop of its own and each kernel alone, and the
planner adds them up. A training step is not that sum. Between two collectives a rank
computes, so the collective waits for the slowest rank to arrive; a rank that blocked on the
previous one must be woken and scheduled again; and the small differences in speed between
ranks add up phase by phase, where a sum over the whole step would let them cancel. On the
2-core machine this was built on, each collective in a training step cost 1-2 ms more at
P = 2 than the same call in a loop of its own, and a synthetic loop of products between
collectives reproduced only a fraction of it.

So calibration also trains a fixed reference model -- a 2-layer GCN on a synthetic
stochastic block model graph, the same on every machine (:data:`REFERENCE`) -- for a few
steps on its ``P`` processes, in three layouts (:data:`LAYOUTS`), and the planner predicts
each step from the fits just measured:

* **1D** (broadcasts and all-reduces): what the measured step exceeds the prediction by,
  divided by the step's collective calls, is the profile's ``sync_seconds``, which the
  planner adds to every collective call of every candidate;
* **sparsity-aware 1D** on the graph's block partition (all-to-alls over all ``P``):
  what that step exceeds its prediction with ``sync_seconds`` by, divided by its
  all-to-all calls, is ``all_to_all_sync_seconds``. An all-to-all waits on every peer in
  turn, so the planner adds it per peer: ``(g - 1) / (P - 1)`` of it to an all-to-all
  over ``g`` processes (:func:`pargnn.planner.pace.all_to_all_sync`). On 8 processes
  sharing 2 cores it came to 10.7 ms per call over all 8, beyond the 4.0 ms of the 1D
  term;
* **3D** on its default grid (its layers reduce-scatter the partial sums): what that
  step exceeds its prediction with both terms by, divided by its reduce-scatter calls, is
  ``reduce_scatter_sync_seconds``, added to every reduce-scatter call. Training hands
  gloo's reduce-scatter freshly allocated buffers and starts it after a product whose
  length differs from rank to rank. On the 2-core machine, without the term, the 3D step
  ran 12% and 11% over its prediction at P = 2 and 4; the term came to 0-2.5 ms per call
  there in two calibrations, and 0.2 ms at P = 8.

They are corrections measured on one workload and spread over calls, not a model of their
causes; ``benchmarks/planner`` says how well they carry to other graphs and layouts.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import time
from typing import NamedTuple

import torch

from pargnn.algorithms.prepare import PreparedGraph, prepare_graph
from pargnn.algorithms.registry import family_of, plan_grid
from pargnn.config import TrainConfig
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.launch import WorkerContext
from pargnn.graph.datasets import load_dataset
from pargnn.graph.partition import Partition, partition_graph
from pargnn.nn.models import MODELS, build_model
from pargnn.planner.planner import Candidate, measured_sparse, predict
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import Profile
from pargnn.schedule.full_graph import train_step

REFERENCE = "sbm:nodes=12000,blocks=12,degree=10,homophily=0.8,features=64,seed=7"
QUICK_REFERENCE = "sbm:nodes=3000,blocks=6,degree=8,homophily=0.8,features=32,seed=7"
HIDDEN = 64
# (algorithm, partition): the communities of the reference graph lie in vertex order, so
# its block partition is a good one and needs no METIS
LAYOUTS = (("1d", None), ("sa1d", "block"), ("3d", None))
WARM_UP, TIMED = 3, 12
QUICK_WARM_UP, QUICK_TIMED = 2, 3
ROUNDS = 3  # turns each layout takes, sharing its TIMED (QUICK_TIMED) steps


def reference_config(nprocs: int, quick: bool, algo: str = "1d",
                     partition: str | None = None) -> TrainConfig:
    """The reference run on ``nprocs`` processes in one of :data:`LAYOUTS`."""
    return TrainConfig(dataset=QUICK_REFERENCE if quick else REFERENCE, hidden=HIDDEN,
                       algo=algo, partition=partition, nprocs=nprocs, dtype="float32")


def reference_graph(config: TrainConfig) -> PreparedGraph:
    """The reference graph, prepared for the reference model."""
    graph = load_dataset(config.dataset)
    return prepare_graph(graph, MODELS[config.model].normalization, config.feature_norm)


def reference_steps(ctx: WorkerContext, quick: bool) -> tuple[float, ...]:
    """This worker's median reference step in each of :data:`LAYOUTS`, in that order.

    The layouts take turns, :data:`ROUNDS` blocks of steps each, so that a spell of load
    on the machine falls on all of them: the all-to-all and reduce-scatter terms are small
    differences between them, spread over few calls, and a shift of 10 ms in one step moved
    the all-to-all term by 2 ms per call.
    Every rank of the calibration calls this at the same point, as training would.
    """
    runs = [_ReferenceRun(ctx, quick, algo, partition) for algo, partition in LAYOUTS]
    warm_up, timed = (QUICK_WARM_UP, QUICK_TIMED) if quick else (WARM_UP, TIMED)
    for run in runs:
        for _ in range(warm_up):
            run.step()
    seconds: list[list[float]] = [[] for _ in runs]
    for _ in range(ROUNDS):
        for run, out in zip(runs, seconds, strict=True):
            out += [run.step() for _ in range(timed // ROUNDS)]
    return tuple(statistics.median(out) for out in seconds)


class _ReferenceRun:
    """The reference model in one layout on this worker's rank, ready to step."""

    def __init__(self, ctx: WorkerContext, quick: bool, algo: str,
                 partition: str | None) -> None:
        config = reference_config(ctx.world_size, quick, algo, partition)
        prepared = reference_graph(config)
        self.device = ctx.device
        self.algorithm = family_of(algo).build(prepared, plan_grid(algo, ctx.world_size),
                                               config.build_options(ctx.device),
                                               Communicator(CommLog()))
        options = config.model_options(prepared.features.shape[1], prepared.num_classes)
        self.model = build_model(config.model, options).to(ctx.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.epoch = 0

    def step(self) -> float:
        """Seconds of one training step."""
        start = time.perf_counter()
        train_step(self.model, self.algorithm, self.optimizer, self.epoch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.epoch += 1
        return time.perf_counter() - start


class SyncTerms(NamedTuple):
    """The profile's corrections, in seconds per call (see the module's docstring)."""

    sync: float
    all_to_all: float
    reduce_scatter: float


def sync_from_reference(measured: tuple[float, ...], profile: Profile, quick: bool
                        ) -> SyncTerms:
    """The sync terms from the measured reference steps (the slowest rank's median, one
    per layout of :data:`LAYOUTS`): each the excess of a step over its prediction from
    ``profile`` with the terms before it, per call it is spread over; 0 where the
    prediction is not below the measurement."""
    config = reference_config(profile.nprocs, quick)
    prepared = reference_graph(config)
    problem = problem_for(prepared, config)

    @functools.cache
    def partitions(parts: int, method: str) -> Partition:
        return partition_graph(prepared.adjacency, parts, method)

    def excess(layout: tuple[str, str | None], synced: Profile, op: str | None) -> float:
        algo, partition = layout
        candidate = Candidate(plan_grid(algo, profile.nprocs), partition)
        sparse = (measured_sparse(problem, partitions, synced)(candidate)
                  if profile.device == "cpu" else None)
        prediction = predict(problem, candidate, synced, partitions, sparse_seconds=sparse)
        if prediction is None:
            return 0.0
        busiest = max(prediction.ranks, key=lambda r: r.seconds)
        calls = sum(n for (_, kind, _), n in busiest.traffic.call_counts.items()
                    if op is None or kind == op)
        seconds = measured[LAYOUTS.index(layout)] - prediction.epoch_seconds
        return max(0.0, seconds / calls) if calls else 0.0

    profile = dataclasses.replace(profile, sync_seconds=0.0, all_to_all_sync_seconds=0.0,
                                  reduce_scatter_sync_seconds=0.0)
    sync = excess(LAYOUTS[0], profile, None)
    profile = dataclasses.replace(profile, sync_seconds=sync)
    all_to_all = excess(LAYOUTS[1], profile, "all_to_all")
    profile = dataclasses.replace(profile, all_to_all_sync_seconds=all_to_all)
    return SyncTerms(sync, all_to_all, excess(LAYOUTS[2], profile, "reduce_scatter"))
