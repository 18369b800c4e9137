"""What a rank spawned by :func:`~pargnn.dist.launch.launch` runs, and the files it shares with
the parent.

A spawned process cannot hand an exception or a return value back by itself, and it must not
outlive the run. So every rank runs ``fn`` inside a guard (:func:`run_spawned_rank`): it joins
the process group on 127.0.0.1, reads the payload from the run's folder, and writes its result
there; a raised exception is written instead as a per-rank
:class:`~pargnn.dist.failures.RankErrorRecord` (type, message, traceback) and the process exits
at once (``os._exit``, so no interpreter shutdown can hang on a broken process group). Each
rank is also killed if the parent dies (``PR_SET_PDEATHSIG`` on Linux). :class:`SpawnSpec`
says where those files lie; every file is written atomically, so the parent never reads half
of one.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, NoReturn

import torch
import torch.distributed as dist

from pargnn.dist.context import WorkerContext, rank_device
from pargnn.dist.failures import RankErrorRecord

# The name of the payload's file in the run's folder; every other file there is a rank's.
PAYLOAD_FILE: Final = "payload.pkl"


@dataclass(frozen=True)
class SpawnSpec:
    """What every spawned rank needs to know besides ``fn`` and the payload."""

    world_size: int
    backend: str
    port: int
    threads: int
    timeout_s: float
    workdir: Path

    def payload_path(self) -> Path:
        return self.workdir / PAYLOAD_FILE

    def result_path(self, rank: int) -> Path:
        return self.workdir / f"rank{rank}.result.pkl"

    def error_path(self, rank: int) -> Path:
        return self.workdir / f"rank{rank}.error.pkl"


def write_pickle(path: Path, obj: object) -> None:
    """Write atomically: the parent never reads half a file."""
    partial = path.with_suffix(".partial")
    with partial.open("wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def read_pickle(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


def run_spawned_rank(index: int, fn: Callable[[WorkerContext, Any], Any], spec: SpawnSpec) -> None:
    """The body of spawned rank ``index``; called by torch.multiprocessing as fn(i, *args)."""
    _die_with_parent()
    try:
        ctx = _become_rank(index, spec)
        write_pickle(spec.result_path(index), fn(ctx, read_pickle(spec.payload_path())))
        # Rank 0 hosts the rendezvous store: nobody leaves before everybody is done.
        dist.barrier(device_ids=[index] if spec.backend == "nccl" else None)
        dist.destroy_process_group()
    except Exception as exc:
        _exit_with_record(spec.error_path(index), exc)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the process that spawned it dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 == PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: the parent's own cleanup still applies
        pass


def _become_rank(rank: int, spec: SpawnSpec) -> WorkerContext:
    """Set this process up as ``rank``: threads, device, and the group on 127.0.0.1."""
    if spec.backend == "gloo" and sys.platform.startswith("linux"):
        # One machine: talk over loopback, whatever the hostname resolves to.
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(spec.threads)
    ctx = WorkerContext(rank, spec.world_size, rank, rank_device(spec.backend, rank), spec.backend)
    if spec.backend == "nccl":
        torch.cuda.set_device(ctx.device)
    dist.init_process_group(
        spec.backend,
        init_method=f"tcp://127.0.0.1:{spec.port}",
        rank=rank,
        world_size=spec.world_size,
        timeout=timedelta(seconds=spec.timeout_s),
    )
    return ctx


def _exit_with_record(path: Path, exc: Exception) -> NoReturn:
    """Leave the parent an account of ``exc`` and end this process now."""
    write_pickle(path, RankErrorRecord.from_exception(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter shutdown: destructors of a broken process group can block.
    os._exit(1)
