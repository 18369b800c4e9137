"""The training loop: full-graph epochs over whatever algorithm the setup built.

One epoch is one forward pass over the whole graph, the global loss over the training
vertices, one backward pass and one Adam step; then an evaluation pass (no dropout) gives the
train, validation and test accuracy. The reported test accuracy is the one at the epoch of the
best validation accuracy (the first such epoch on ties).

Launch (see the README for more)::

    pargnn train                                   # the built-in synthetic graph
    pargnn train --dataset cora --epochs 200 --out run.json
    python -m pargnn train --dataset citeseer --device cpu --threads 2
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Protocol

import torch

from pargnn.dist.comm import CommLog
from pargnn.dist.launch import under_torchrun
from pargnn.graph.datasets import load_dataset
from pargnn.graph.graph import Graph
from pargnn.nn.models import GraphModel
from pargnn.spmm.contract import Algorithm
from pargnn.training.config import TrainConfig
from pargnn.training.estimate import estimate_epoch
from pargnn.training.memory import peak_rss_bytes, training_state_peak
from pargnn.training.result import EpochRecord, TrainResult, check_writable, write_json_atomic
from pargnn.training.setup import DTYPES, build_model, build_single_process, resolve_device


class TrainObserver(Protocol):
    """Receives progress; the CLI's progress bar and summary table implement it."""

    def start(self, result: TrainResult) -> None: ...

    def epoch(self, record: EpochRecord) -> None: ...

    def end(self, result: TrainResult) -> None: ...


def train_epoch(model: GraphModel, algorithm: Algorithm, optimizer: torch.optim.Optimizer,
                epoch: int) -> float:
    """One forward/backward/step over the whole graph; returns the global training loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    logits = model(algorithm, algorithm.data.features, epoch=epoch)
    loss = algorithm.cross_entropy(logits, algorithm.data.train_mask)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: GraphModel, algorithm: Algorithm) -> tuple[float, float, float]:
    """Global train, validation and test accuracy without dropout."""
    model.eval()
    logits = model(algorithm, algorithm.data.features)
    data = algorithm.data
    return tuple(  # type: ignore[return-value]
        algorithm.count_correct(logits, mask).accuracy
        for mask in (data.train_mask, data.val_mask, data.test_mask)
    )


def run_epochs(
    model: GraphModel,
    algorithm: Algorithm,
    config: TrainConfig,
    result: TrainResult,
    observer: TrainObserver | None = None,
    log: CommLog | None = None,
    comm_seconds: list[float] | None = None,
) -> None:
    """Train for ``config.epochs`` epochs, filling ``result`` as it goes.

    With a communication ``log``, the training step runs in its phase ``train`` and the
    evaluation in ``evaluation``; ``comm_seconds`` then receives each epoch's seconds spent in
    the training step's collectives. With ``config.trace_memory`` the second step (the first in
    a one-epoch run) also measures the training state in tensor bytes
    (:func:`~pargnn.training.memory.training_state_peak`): Adam's moments exist by then.
    """
    log = log or CommLog()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    traced = min(1, config.epochs - 1) if config.trace_memory else -1
    device = algorithm.data.features.device
    for epoch in range(config.epochs):
        before = log.total("train").seconds
        start = time.perf_counter()
        with log.phase("train"):
            if epoch == traced:
                optimizer.zero_grad(set_to_none=True)  # frees before the trace: not counted
                loss, result.tensor_peak_bytes = training_state_peak(
                    partial(train_epoch, model, algorithm, optimizer, epoch), device)
            else:
                loss = train_epoch(model, algorithm, optimizer, epoch)
        seconds = time.perf_counter() - start
        communicated = log.total("train").seconds - before
        if comm_seconds is not None:
            comm_seconds.append(communicated)
        with log.phase("evaluation"):
            train_acc, val_acc, test_acc = evaluate(model, algorithm)
        record = EpochRecord(epoch, loss, train_acc, val_acc, test_acc, seconds, communicated)
        result.epochs.append(record)
        if result.best_epoch < 0 or val_acc > result.val_acc:
            result.best_epoch, result.val_acc, result.test_acc = epoch, val_acc, test_acc
        if observer is not None:
            observer.epoch(record)


def train(
    config: TrainConfig | None = None,
    graph: Graph | None = None,
    observer: TrainObserver | None = None,
) -> TrainResult:
    """Train a model as ``config`` says and return the result (also written to ``config.out``).

    With ``config.nprocs > 1`` the run spawns that many processes on this machine; started by
    ``torchrun`` it joins torchrun's process group (the full result is then on rank 0).

    Args:
        config: the run's settings; defaults to :class:`TrainConfig()`.
        graph: train on this graph instead of loading ``config.dataset``.
        observer: receives progress on a single-process run (the CLI's progress bar; a
            distributed run draws it from rank 0 unless ``config.quiet``).
    """
    config = config or TrainConfig()
    config.validate()
    if config.out:
        check_writable(config.out)
    if config.algo == "auto":
        return train_auto(config, graph, observer)
    if config.nprocs > 1 or under_torchrun():
        from pargnn.training.worker import train_distributed

        return train_distributed(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    graph = graph if graph is not None else load_dataset(config.dataset, config.data_root)
    algorithm = build_single_process(graph, config, device)
    model = build_model(config, graph).to(device=device, dtype=DTYPES[config.dtype])
    result = TrainResult(config=config, dataset=graph.summary(), device=str(device))
    result.estimate = estimate_epoch(model, algorithm.operator.nnz, graph.num_nodes)
    if observer is not None:
        observer.start(result)
    run_epochs(model, algorithm, config, result, observer)
    result.peak_rss_bytes = peak_rss_bytes()
    if observer is not None:
        observer.end(result)
    if config.out:
        write_json_atomic(config.out, result.to_dict())
    return result


def train_auto(config: TrainConfig, graph: Graph | None,
               observer: TrainObserver | None) -> TrainResult:
    """``--algo auto``: plan, then train the chosen layout; the plan goes into the result."""
    from pargnn.cost.auto import resolve_auto

    nprocs = int(os.environ["WORLD_SIZE"]) if under_torchrun() else config.nprocs
    if nprocs == 1:
        return train(config.replace(algo="1d"), graph, observer)
    graph = graph if graph is not None else load_dataset(config.dataset, config.data_root)
    planned = resolve_auto(config, graph, nprocs)
    if not config.quiet and os.environ.get("RANK", "0") == "0":
        note = (" (profile local-default: run `pargnn calibrate` for this machine's)"
                if planned.default_profile else "")
        print(f"--algo auto: {planned.plan.explanation()}{note}", flush=True)
    out = config.out
    result = train(planned.config.replace(out=None), graph, observer)
    result.plan = planned.plan.as_dict()
    result.config = planned.config.replace(out=out)
    if out and result.rank == 0:
        write_json_atomic(out, result.to_dict())
    return result
