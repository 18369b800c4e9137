"""Start the P processes of a run, bring their results back, and stop them all when one fails.

Why a launcher of its own: ``torch.multiprocessing.spawn`` starts processes but leaves the
process group, the return values and the failure story to the caller. A run whose rank 2
raised must not leave ranks 0, 1 and 3 blocked for ten minutes in an all-reduce that waits for
it, nor print four interleaved tracebacks: the user should read *which* rank failed and *why*
in one message, and no process may outlive the run. :func:`launch` gives that on one machine;
:func:`~pargnn.dist.torchrun.run_under_torchrun` does the same job inside processes that
``torchrun`` started.

The two ways to start a run::

    pargnn train --nprocs 4 ...                       # launch() spawns 4 local processes
    torchrun --nproc_per_node 4 -m pargnn train ...   # torchrun starts 4: run_under_torchrun()

The work is split by side. A spawned rank runs :func:`~pargnn.dist.spawned.run_spawned_rank`,
which writes its result or an error record to the run's folder and exits at once when it
raises. This module is the parent's side: it waits on the process sentinels, and the first
rank that exits non-zero, or without a result, ends the run: the other ranks get a short grace
period (with gloo they usually fail on their own within milliseconds, because the dead peer's
sockets close), then SIGTERM, then SIGKILL. Every process is joined before :func:`launch`
raises :class:`~pargnn.dist.failures.RankFailedError`, whose message names the rank that
failed first (:func:`~pargnn.dist.failures.first_failure` picks it). A KeyboardInterrupt in the
parent terminates every child before it propagates.

The public API of both ways lives here, whichever module defines it: the rest of the code
imports it from ``pargnn.dist.launch``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, TypeVar

import torch
import torch.multiprocessing as torch_mp

from pargnn.dist.context import WorkerContext, resolve_backend
from pargnn.dist.failures import RankErrorRecord, RankFailedError, first_failure
from pargnn.dist.spawned import PAYLOAD_FILE, SpawnSpec, read_pickle, run_spawned_rank, write_pickle
from pargnn.dist.torchrun import run_under_torchrun, under_torchrun
from pargnn.errors import ConfigError

__all__ = [
    "RankFailedError",
    "WorkerContext",
    "free_port",
    "launch",
    "resolve_backend",
    "run_under_torchrun",
    "under_torchrun",
]

R = TypeVar("R")

# After the first failure the other ranks get this long to exit on their own ...
_GRACE_S: Final = 2.0
# ... then SIGTERM and this long before SIGKILL.
_TERM_GRACE_S: Final = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch(
    fn: Callable[[WorkerContext, Any], R],
    payload: Any,
    nprocs: int,
    *,
    backend: str = "auto",
    threads_per_process: int | None = None,
    timeout_s: float = 600.0,
) -> list[R]:
    """Run fn(ctx, payload) on nprocs fresh processes (spawn start method) joined in one
    process group on 127.0.0.1 at a free port; return the per-rank return values in rank
    order.

    ``fn`` must be a module-level function (spawn pickles it by name); ``payload`` and the
    return values must pickle. ``threads_per_process`` defaults to the cores divided among
    the ranks; ``timeout_s`` bounds every collective. Raises :class:`RankFailedError` when a
    rank raises or dies, after every other rank has been stopped.
    """
    backend = resolve_backend(backend)
    _check_launch(fn, nprocs, backend, threads_per_process, timeout_s)
    threads = threads_per_process or max(1, (os.cpu_count() or 1) // nprocs)
    workdir = Path(tempfile.mkdtemp(prefix="pargnn-launch-"))
    try:
        write_pickle(workdir / PAYLOAD_FILE, payload)
        spec = SpawnSpec(nprocs, backend, free_port(), threads, timeout_s, workdir)
        outcome = _run_once(fn, spec)
        if isinstance(outcome, RankFailedError) and _port_was_taken(outcome):
            _clear_rank_files(workdir)  # another process took the port: try a new one
            outcome = _run_once(fn, replace(spec, port=free_port()))
        if isinstance(outcome, RankFailedError):
            raise outcome
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check_launch(
    fn: Callable[..., Any], nprocs: int, backend: str, threads: int | None, timeout_s: float
) -> None:
    if nprocs < 1:
        raise ConfigError(f"the number of processes must be at least 1, got {nprocs}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads per process must be at least 1, got {threads}")
    if not timeout_s > 0:
        raise ConfigError(f"the collective timeout must be positive, got {timeout_s} s")
    if backend == "nccl" and nprocs > torch.cuda.device_count():
        raise ConfigError(
            f"{nprocs} processes with backend nccl need {nprocs} GPUs, and this machine has "
            f"{torch.cuda.device_count()}; use --nprocs {torch.cuda.device_count()} or "
            "--backend gloo"
        )
    _check_picklable(fn)


def _check_picklable(fn: Callable[..., Any]) -> None:
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            f"launch needs a module-level function to send to the processes; {fn!r} "
            f"cannot be pickled ({exc})"
        ) from exc


def _port_was_taken(error: RankFailedError) -> bool:
    return "address already in use" in str(error).lower()


def _clear_rank_files(workdir: Path) -> None:
    """Remove what the ranks of a failed attempt wrote; keep the payload."""
    for path in workdir.iterdir():
        if path.name != PAYLOAD_FILE:
            path.unlink()


def _run_once(fn: Callable[[WorkerContext, Any], R], spec: SpawnSpec) -> list[R] | RankFailedError:
    """Start the ranks, wait for all of them or for the first failure; stop every one."""
    processes = _start(fn, spec)
    try:
        failed = _wait_for_all_or_failure(processes, spec)
    except BaseException:  # KeyboardInterrupt included: take every child down with us
        _stop(processes, grace_s=0.0)
        raise
    if not failed:
        return [read_pickle(spec.result_path(rank)) for rank in range(spec.world_size)]
    signalled = _stop(processes, grace_s=_GRACE_S)
    return first_failure(
        exitcodes=[p.exitcode for p in processes],
        records=_error_records(spec),
        unfinished=[r for r, p in enumerate(processes) if _ended_badly(p, spec, r)],
        signalled=signalled,
        seen_failing=failed,
    )


def _start(fn: Callable[[WorkerContext, Any], Any], spec: SpawnSpec) -> list[BaseProcess]:
    """Spawn the ranks; if that fails half-way, stop the ones already started."""
    before = set(multiprocessing.active_children())
    try:
        context = torch_mp.start_processes(
            run_spawned_rank,
            args=(fn, spec),
            nprocs=spec.world_size,
            join=False,
            start_method="spawn",
        )
    except BaseException:
        _stop([p for p in multiprocessing.active_children() if p not in before], grace_s=0.0)
        raise
    return list(context.processes)


def _ended_badly(process: BaseProcess, spec: SpawnSpec, rank: int) -> bool:
    """Whether a rank that exited did so non-zero or without leaving a result."""
    return process.exitcode != 0 or not spec.result_path(rank).exists()


def _wait_for_all_or_failure(processes: Sequence[BaseProcess], spec: SpawnSpec) -> list[int]:
    """Block until every rank exited with a result (-> []) or some did not (-> those ranks)."""
    pending: dict[Any, int] = {p.sentinel: rank for rank, p in enumerate(processes)}
    while pending:
        failed = []
        for sentinel in multiprocessing.connection.wait(list(pending)):
            rank = pending.pop(sentinel)
            processes[rank].join()
            if _ended_badly(processes[rank], spec, rank):
                failed.append(rank)
        if failed:
            return failed
    return []


def _error_records(spec: SpawnSpec) -> dict[int, RankErrorRecord]:
    """The error records the ranks wrote, by rank."""
    paths = {rank: spec.error_path(rank) for rank in range(spec.world_size)}
    return {rank: read_pickle(path) for rank, path in paths.items() if path.exists()}


def _stop(processes: Sequence[BaseProcess], grace_s: float) -> set[int]:
    """Join every process: wait grace_s, then SIGTERM, then SIGKILL. Returns the indices of
    the processes that had to be signalled."""
    _join_all(processes, grace_s)
    signalled = {i for i, p in enumerate(processes) if p.is_alive()}
    for i in signalled:
        processes[i].terminate()
    _join_all(processes, _TERM_GRACE_S)
    for p in processes:
        if p.is_alive():
            p.kill()
        p.join()
    return signalled


def _join_all(processes: Sequence[BaseProcess], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
