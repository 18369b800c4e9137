"""One rank of a distributed run: train its share, and report what it measured.

Each rank receives the prepared graph (or, under torchrun, prepares the one it loaded
itself), builds its algorithm (its blocks only), trains the same model with the same seed (so
the replicated weights stay identical without a broadcast), and returns a
:class:`RankReport`: its communication log, peak memory and per-epoch timings; rank 0 also
returns the :class:`~pargnn.training.result.TrainResult` (losses and accuracies are global,
the same on every rank). :mod:`pargnn.training.merge` folds the reports into the one result a
user sees.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

import torch.distributed as dist

from pargnn.algorithms.prepare import PreparedGraph
from pargnn.algorithms.registry import plan_grid
from pargnn.algorithms.stored import load_prepared
from pargnn.config import TrainConfig
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.launch import WorkerContext
from pargnn.dist.phases import SETUP, TRAIN
from pargnn.planner.auto import announce_plan, resolve_auto
from pargnn.schedule.minibatch import SamplingStats
from pargnn.training.loop import TrainObserver, run_epochs
from pargnn.training.memory import current_rss_bytes, peak_rss_bytes, reset_peak_rss
from pargnn.training.result import TrainResult
from pargnn.training.session import build_session


@dataclass
class RankJob:
    """What every rank of a run is handed: the configuration and the prepared graph, either
    itself (``prepared``: under torchrun, where each rank prepared its own) or the folder it
    was stored in (``stored``: spawned ranks, see :mod:`pargnn.algorithms.stored`).

    A configuration with ``--algo auto`` is planned on rank 0 and agreed by every rank.
    """

    config: TrainConfig
    prepared: PreparedGraph | None = None
    stored: str | None = None

    def take_graph(self) -> PreparedGraph:
        """The prepared graph, which the job then lets go of (a rank keeps only its blocks)."""
        prepared, self.prepared = self.prepared, None
        if prepared is not None:
            return prepared
        if self.stored is None:
            raise ValueError("a rank job needs a prepared graph or the folder of one")
        return load_prepared(self.stored)


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
    sampling: SamplingStats | None = None
    result: TrainResult | None = None


def _observer(ctx: WorkerContext, config: TrainConfig) -> TrainObserver | None:
    """Rank 0 draws the progress bar unless the run is quiet."""
    if ctx.rank != 0 or config.quiet:
        return None
    from pargnn.training.report import ConsoleReport  # rich's console: only where it draws

    return ConsoleReport()


def rank_main(ctx: WorkerContext, job: RankJob) -> RankReport:
    """Train as ``job`` says on this rank of the already-initialised process group."""
    prepared = job.take_graph()
    config, plan = planned_config(ctx, job.config, prepared)
    spec = plan_grid(config.algo, ctx.world_size, config.grid, config.replication)
    log = CommLog()
    comm = Communicator(log, synchronize_cuda=ctx.device.type == "cuda")
    with log.phase(SETUP):
        session = build_session(prepared, config, ctx.device, spec, comm)
    result = TrainResult(config=config, dataset=prepared.summary, device=str(ctx.device),
                         plan=plan)
    del prepared
    gc.collect()
    setup_peak = peak_rss_bytes()
    resettable = reset_peak_rss()
    rss_before_training = current_rss_bytes()
    result.estimate = session.estimate()
    observer = _observer(ctx, config)
    if observer is not None:
        observer.start(result)
    comm_seconds: list[float] = []
    run_epochs(session.schedule, config.epochs, result, observer, log, comm_seconds,
               config.trace_memory, ctx.device)
    if observer is not None:
        observer.end(result)
    result.minibatch = session.details()
    train = log.total(TRAIN)
    training_peak = peak_rss_bytes()
    return RankReport(
        rank=ctx.rank,
        peak_rss_bytes=max(setup_peak, training_peak),
        state_bytes=session.stored_bytes(),
        sampling=session.sampling(),
        training_peak_rss_bytes=training_peak - rss_before_training if resettable else -1,
        tensor_peak_bytes=result.tensor_peak_bytes,
        comm=log.as_dict(),
        train_bytes=train.bytes,
        train_messages=train.calls,
        epoch_seconds=[e.seconds for e in result.epochs],
        epoch_comm_seconds=comm_seconds,
        result=result if ctx.rank == 0 else None,
    )


def agree(value: Any, source: int = 0) -> Any:
    """``value`` as rank ``source`` has it, on every rank (a broadcast of one object)."""
    box = [value]
    dist.broadcast_object_list(box, src=source)
    return box[0]


def planned_config(ctx: WorkerContext, config: TrainConfig, prepared: PreparedGraph
                   ) -> tuple[TrainConfig, dict[str, object] | None]:
    """``config`` with ``--algo auto`` replaced by rank 0's plan, which every rank adopts
    (each rank planning alone could time its way to a different choice)."""
    if config.algo != "auto":
        return config, None
    chosen = None
    if ctx.rank == 0:
        planned = resolve_auto(config, prepared, ctx.world_size)
        announce_plan(planned, config)
        chosen = (planned.config, planned.plan.as_dict())
    settled: tuple[TrainConfig, dict[str, object]] = agree(chosen)
    return settled
