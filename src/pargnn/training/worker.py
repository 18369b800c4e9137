"""One rank of a distributed training run, and the merge of every rank's report.

Each rank loads the graph, builds its algorithm (its blocks only), trains the same model with
the same seed (so the replicated weights stay identical without a broadcast), and returns a
:class:`RankReport`: its communication log, peak memory and per-epoch timings; rank 0 also
returns the :class:`TrainResult` (losses and accuracies are global, the same on every rank).
:func:`merge_reports` folds the reports into the one result a user sees.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from typing import Any

from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.grid import plan_grid
from pargnn.dist.launch import WorkerContext, launch, run_under_torchrun, under_torchrun
from pargnn.graph.datasets import load_dataset
from pargnn.training.config import TrainConfig
from pargnn.training.distributed import build_algorithm
from pargnn.training.estimate import estimate_epoch
from pargnn.training.loop import run_epochs
from pargnn.training.memory import current_rss_bytes, peak_rss_bytes, reset_peak_rss
from pargnn.training.result import EpochRecord, TrainResult, write_json_atomic
from pargnn.training.setup import DTYPES, build_model, resolve_device


@dataclass
class RankReport:
    """What one rank measured; ``result`` only on rank 0."""

    rank: int
    peak_rss_bytes: int
    state_bytes: int
    training_peak_rss_bytes: int
    tensor_peak_bytes: int | None
    comm: dict[str, Any]
    train_bytes: int
    train_messages: int
    epoch_seconds: list[float] = field(default_factory=list)
    epoch_comm_seconds: list[float] = field(default_factory=list)
    result: TrainResult | None = None


def rank_main(ctx: WorkerContext, config: TrainConfig) -> RankReport:
    """Train as ``config`` says on this rank of the already-initialised process group."""
    spec = plan_grid(config.algo, ctx.world_size, config.grid, config.replication)
    log = CommLog()
    comm = Communicator(log, synchronize_cuda=ctx.device.type == "cuda")
    graph = load_dataset(config.dataset, config.data_root)
    summary = graph.summary()
    with log.phase("setup"):
        algorithm = build_algorithm(graph, config, spec, comm, ctx.device)
    model = build_model(config, graph).to(device=ctx.device, dtype=DTYPES[config.dtype])
    local_nnz = sum(block.nnz for block in algorithm.at_blocks())
    del graph
    gc.collect()
    setup_peak = peak_rss_bytes()
    resettable = reset_peak_rss()
    rss_before_training = current_rss_bytes()
    result = TrainResult(config=config, dataset=summary, device=str(ctx.device))
    result.estimate = estimate_epoch(model, local_nnz, int(algorithm.data.features.shape[0]))
    observer = None
    if ctx.rank == 0 and not config.quiet:
        from pargnn.training.report import ConsoleReport

        observer = ConsoleReport()
        observer.start(result)
    comm_seconds: list[float] = []
    run_epochs(model, algorithm, config, result, observer, log=log, comm_seconds=comm_seconds)
    if observer is not None:
        observer.end(result)
    train = log.total("train")
    training_peak = peak_rss_bytes()
    return RankReport(
        rank=ctx.rank,
        peak_rss_bytes=max(setup_peak, training_peak),
        state_bytes=algorithm.stored_bytes(),
        training_peak_rss_bytes=training_peak - rss_before_training if resettable else -1,
        tensor_peak_bytes=result.tensor_peak_bytes,
        comm=log.as_dict(),
        train_bytes=train.bytes,
        train_messages=train.calls,
        epoch_seconds=[e.seconds for e in result.epochs],
        epoch_comm_seconds=comm_seconds,
        result=result if ctx.rank == 0 else None,
    )


def merge_reports(reports: list[RankReport]) -> TrainResult:
    """Rank 0's result with every rank's memory, communication and the slowest timings."""
    result = reports[0].result
    if result is None:
        raise RuntimeError("rank 0 returned no result")
    epochs = len(result.epochs)
    result.epochs = [
        EpochRecord(
            e.epoch, e.loss, e.train_acc, e.val_acc, e.test_acc,
            seconds=max(r.epoch_seconds[k] for r in reports),
            comm_seconds=max(r.epoch_comm_seconds[k] for r in reports),
            compute_seconds=max(r.epoch_seconds[k] - r.epoch_comm_seconds[k] for r in reports),
        )
        for k, e in enumerate(result.epochs)
    ]
    result.peak_rss_bytes_per_rank = [r.peak_rss_bytes for r in reports]
    result.memory_detail = {
        "state_bytes_per_rank": [r.state_bytes for r in reports],
        "training_rss_growth_bytes_per_rank": [r.training_peak_rss_bytes for r in reports],
        **({"tensor_peak_bytes_per_rank": [r.tensor_peak_bytes for r in reports]}
           if result.tensor_peak_bytes is not None else {}),
        "note": "peak_rss includes loading the whole graph on every rank before its blocks are "
                "cut out; state_bytes counts the sparse blocks and vertex data a rank keeps; "
                "training_rss_growth is the peak RSS during training above the RSS after setup; "
                "tensor_peak_bytes (--trace-memory) is the peak of the tensor bytes alive during "
                "the second training step, graph and model included",
    }
    if result.tensor_peak_bytes is not None:
        result.tensor_peak_bytes = max(r.tensor_peak_bytes or 0 for r in reports)
    result.peak_rss_bytes = max(result.peak_rss_bytes_per_rank)
    result.comm = {
        "bytes_per_epoch_per_rank": [r.train_bytes // epochs for r in reports],
        "messages_per_epoch_per_rank": [r.train_messages // epochs for r in reports],
        "by_op": reports[0].comm["by_op"],
        "by_phase": reports[0].comm["by_phase"],
        "per_rank": [{"rank": r.rank, **r.comm} for r in reports],
        "note": "by_op and by_phase are rank 0's totals over the whole run, setup included",
    }
    return result


def train_distributed(config: TrainConfig) -> TrainResult:
    """Spawn ``config.nprocs`` local processes, or join torchrun's; merge their reports."""
    backend = "nccl" if resolve_device(config.device).type == "cuda" else "gloo"
    if under_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        plan_grid(config.algo, world, config.grid, config.replication)  # fail before joining
        reports = run_under_torchrun(rank_main, config, backend=backend)
        if reports is None:  # not rank 0: rank 0 reports for everyone
            return TrainResult(config=config, dataset={}, device=backend,
                               rank=int(os.environ["RANK"]))
    else:
        plan_grid(config.algo, config.nprocs, config.grid, config.replication)
        reports = launch(rank_main, config, config.nprocs, backend=backend,
                         threads_per_process=config.threads)
    result = merge_reports(reports)
    if config.out:
        write_json_atomic(config.out, result.to_dict())
    return result
