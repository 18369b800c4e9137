"""The front door of a training run: configuration -> graph -> plan -> launch -> steps -> report.

:func:`train` owns that sequence and nothing below it climbs back:

1. **resolve** the configuration (:meth:`~pargnn.config.TrainConfig.validate`; an ``--out``
   that cannot be written fails now, not after training);
2. **load** the graph once (or take the one given) and **prepare** it once: the adjacency
   normalised as the model asks, transposed, the features normalised
   (:func:`~pargnn.algorithms.prepare.prepare_graph`);
3. **plan** ``--algo auto`` on the prepared graph (:mod:`pargnn.planner.auto`);
4. **dispatch**: one process trains here; ``--nprocs P`` spawns P local ranks, which receive
   the prepared graph as a folder of ``.npy`` files that each maps
   (:mod:`pargnn.algorithms.stored`) -- written once, so that no rank loads or normalises the
   graph again, a graph built in Python trains like a named one, and the parent lets go of it
   before the ranks start; under ``torchrun`` every rank prepares the graph it was given or
   loaded, and rank 0 plans for all;
5. **run** the schedule's steps (:mod:`pargnn.training.loop`, on each rank
   :mod:`pargnn.training.rank`), and **report**: merge the ranks' reports
   (:mod:`pargnn.training.merge`) and write the JSON file atomically.

Launch (see the README for more)::

    pargnn train                                   # the built-in synthetic graph
    pargnn train --dataset cora --epochs 200 --out run.json
    pargnn train --dataset cora --nprocs 4 --algo 2d
    torchrun --nproc_per_node 4 -m pargnn train --algo auto
"""

from __future__ import annotations

import os
import sys
import tempfile

import torch

from pargnn.algorithms.prepare import PreparedGraph, prepare_graph
from pargnn.algorithms.registry import DEFAULT_ALGORITHM, plan_grid
from pargnn.algorithms.stored import save_prepared
from pargnn.config import TrainConfig
from pargnn.dist.launch import launch, run_under_torchrun, under_torchrun
from pargnn.graph.datasets import load_dataset
from pargnn.graph.graph import Graph
from pargnn.nn.models import MODELS
from pargnn.planner.auto import announce_plan, resolve_auto
from pargnn.training.loop import TrainObserver, run_epochs
from pargnn.training.memory import peak_rss_bytes
from pargnn.training.merge import merge_reports
from pargnn.training.rank import RankJob, rank_main
from pargnn.training.result import TrainResult, check_writable, write_json_atomic
from pargnn.training.session import build_session, resolve_device


def train(config: TrainConfig | None = None, graph: Graph | None = None,
          observer: TrainObserver | None = None) -> TrainResult:
    """Train a model as ``config`` says and return the result (also written to ``config.out``).

    With ``config.nprocs > 1`` the run spawns that many processes on this machine; started by
    ``torchrun`` it joins torchrun's process group (the full result is then on rank 0).

    Args:
        config: the run's settings; defaults to :class:`~pargnn.config.TrainConfig()`.
        graph: train on this graph instead of loading ``config.dataset`` (at any
            ``nprocs``, and under torchrun on every rank, which each pass their own).
        observer: receives progress on a single-process run (a distributed run draws the
            CLI's progress bar from rank 0 unless ``config.quiet``).
    """
    config = config or TrainConfig()
    config.validate()
    if config.out:
        check_writable(config.out)
    if under_torchrun():
        result = _train_under_torchrun(config, graph)
    else:
        _check_layout(config, config.nprocs)  # before a large graph is loaded for nothing
        prepared = prepare(graph if graph is not None else load(config), config)
        config, plan = _plan(config, prepared)
        if config.nprocs == 1:
            result = _train_here(config, prepared, observer)
        else:
            with tempfile.TemporaryDirectory(prefix="pargnn-graph-") as folder:
                save_prepared(prepared, folder)
                del prepared  # the ranks map the stored copy; this process need not keep one
                result = _train_spawned(config, folder)
        result.plan = plan
    if config.out and result.rank == 0:
        write_json_atomic(config.out, result.to_dict())
    return result


def load(config: TrainConfig) -> Graph:
    """The graph ``config.dataset`` names."""
    return load_dataset(config.dataset, config.data_root)


def prepare(graph: Graph, config: TrainConfig) -> PreparedGraph:
    """``graph`` as the configured model multiplies it, once per run; says (unless quiet)
    when a split it evaluates on is empty."""
    prepared = prepare_graph(graph, MODELS[config.model].normalization, config.feature_norm)
    if not config.quiet and os.environ.get("RANK", "0") == "0":
        counts = prepared.split_counts()
        for split, count in counts.items():
            if count == 0 and split != "train":
                print(f"pargnn: {graph.name} has no {split} vertices: {split} accuracy is "
                      "reported as null" + (" and the last epoch is kept" if split == "val"
                                            else ""), file=sys.stderr, flush=True)
        _note_batch(config, counts["train"])
    return prepared


def _note_batch(config: TrainConfig, train: int) -> None:
    """Say when a mini-batch is the whole training set."""
    if config.mode == "minibatch" and 0 < train <= config.global_batch_size:
        print(f"pargnn: --batch-size {config.global_batch_size} covers all {train} training "
              "vertices: each epoch is one batch", file=sys.stderr, flush=True)


def _check_layout(config: TrainConfig, nprocs: int) -> None:
    """A layout that cannot run on ``nprocs`` processes is refused before anything starts
    (``--algo auto`` chooses one that can)."""
    if config.algo != "auto":
        plan_grid(config.algo, nprocs, config.grid, config.replication)


def _plan(config: TrainConfig, prepared: PreparedGraph
          ) -> tuple[TrainConfig, dict[str, object] | None]:
    """``--algo auto`` replaced by the planner's choice (one process: the single-process
    algorithm, nothing to plan)."""
    if config.algo != "auto":
        return config, None
    if config.nprocs == 1:
        return config.replace(algo=DEFAULT_ALGORITHM), None
    planned = resolve_auto(config, prepared, config.nprocs)
    announce_plan(planned, config)
    return planned.config.replace(out=config.out), planned.plan.as_dict()


def _train_here(config: TrainConfig, prepared: PreparedGraph,
                observer: TrainObserver | None) -> TrainResult:
    """The single-process run."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    session = build_session(prepared, config, device)
    result = TrainResult(config=config, dataset=prepared.summary, device=str(device))
    result.estimate = session.estimate()
    if observer is not None:
        observer.start(result)
    run_epochs(session.schedule, config.epochs, result, observer,
               trace_memory=config.trace_memory, device=device)
    result.peak_rss_bytes = peak_rss_bytes()
    result.minibatch = session.details()
    if observer is not None:
        observer.end(result)
    return result


def _backend(config: TrainConfig) -> str:
    return "nccl" if resolve_device(config.device).type == "cuda" else "gloo"


def _train_spawned(config: TrainConfig, folder: str) -> TrainResult:
    """``config.nprocs`` local ranks, handed the prepared graph stored in ``folder``."""
    reports = launch(rank_main, RankJob(config, stored=folder), config.nprocs,
                     backend=_backend(config), threads_per_process=config.threads)
    return merge_reports(reports)


def _train_under_torchrun(config: TrainConfig, graph: Graph | None) -> TrainResult:
    """This rank of torchrun's group: prepare its own graph, train, and (rank 0) merge."""
    _check_layout(config, int(os.environ["WORLD_SIZE"]))  # before joining the group
    job = RankJob(config, prepared=prepare(graph if graph is not None else load(config),
                                           config))
    reports = run_under_torchrun(rank_main, job, backend=_backend(config))
    if reports is None:  # not rank 0: rank 0 reports for everyone
        return TrainResult(config=config, dataset={}, device="", rank=int(os.environ["RANK"]))
    result = merge_reports(reports)
    result.config = result.config.replace(out=config.out)
    return result
