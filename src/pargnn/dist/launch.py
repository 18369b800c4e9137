"""Start the P processes of a run, bring their results back, and stop them all when one fails.

Why a launcher of its own: ``torch.multiprocessing.spawn`` starts processes but leaves the
process group, the return values and the failure story to the caller. A run whose rank 2
raised must not leave ranks 0, 1 and 3 blocked for ten minutes in an all-reduce that waits for
it, nor print four interleaved tracebacks: the user should read *which* rank failed and *why*
in one message, and no process may outlive the run. :func:`launch` gives that on one machine;
:func:`run_under_torchrun` does the same job inside processes that ``torchrun`` started.

The two ways to start a run::

    pargnn train --nprocs 4 ...                       # launch() spawns 4 local processes
    torchrun --nproc_per_node 4 -m pargnn train ...   # torchrun starts 4: run_under_torchrun()
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d \\
             --rdzv-endpoint HOST:29500 -m pargnn train ...      # the same, on two machines

How :func:`launch` handles a failure. Each rank runs ``fn`` inside a guard: a raised exception
is written to a per-rank record file (type, message, traceback) and the process exits at once
(``os._exit``, so no interpreter shutdown can hang on a broken process group). The parent waits
on the process sentinels; the first rank that exits non-zero, or without a result, ends the run:
the other ranks get a short grace period (with gloo they usually fail on their own within
milliseconds, because the dead peer's sockets close), then SIGTERM, then SIGKILL. Every process
is joined before :func:`launch` raises :class:`RankFailedError`, whose message names the rank
that failed first -- a rank that raised its own error is preferred over ranks that merely lost
a peer in a collective. A :class:`~pargnn.errors.PargnnError` raised in a rank keeps its plain
message (``rank 2: <message>``), so the CLI prints it as the one line it would have printed
without processes. A KeyboardInterrupt in the parent terminates every child before it
propagates, and each child is killed if the parent dies (``PR_SET_PDEATHSIG`` on Linux).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as torch_mp

from pargnn.errors import ConfigError, PargnnError

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

BACKENDS: Final = ("auto", "gloo", "nccl")
# After the first failure the other ranks get this long to exit on their own ...
_GRACE_S: Final = 2.0
# ... then SIGTERM and this long before SIGKILL.
_TERM_GRACE_S: Final = 5.0
# Lines of a remote traceback kept in a RankFailedError message.
_TRACEBACK_LINES: Final = 6
_TORCHRUN_ENV: Final = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class RankFailedError(PargnnError):
    """One rank of a launched run failed; every other rank has been stopped.

    ``rank`` is the rank that failed first; ``remote_traceback`` is its full traceback when it
    raised an exception that is not a :class:`PargnnError` (empty otherwise).
    """

    def __init__(self, rank: int, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.rank = rank
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.rank, str(self), self.remote_traceback)


@dataclass(frozen=True)
class WorkerContext:
    """Who this process is in the run: what ``fn`` receives as its first argument."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device  # cuda:{local_rank} when backend == "nccl", else cpu
    backend: str  # "gloo" or "nccl"


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> ``"nccl"`` when CUDA is available, else ``"gloo"``; check the others."""
    if backend not in BACKENDS:
        raise ConfigError(
            f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)} "
            "(auto picks nccl when a GPU is visible, gloo otherwise)"
        )
    if backend == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        raise ConfigError(
            "backend nccl needs CUDA GPUs and a torch built with NCCL, and this machine has "
            "none; use --backend gloo (or auto) to run on CPU processes"
        )
    return backend


def under_torchrun() -> bool:
    """Whether torchrun started this process (RANK, WORLD_SIZE and LOCAL_RANK are set)."""
    return all(name in os.environ for name in _TORCHRUN_ENV)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _device(backend: str, local_rank: int) -> torch.device:
    return torch.device(f"cuda:{local_rank}") if backend == "nccl" else torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """What every spawned rank needs to know besides ``fn`` and the payload."""

    world_size: int
    backend: str
    port: int
    threads: int
    timeout_s: float
    workdir: Path

    def payload_path(self) -> Path:
        return self.workdir / "payload.pkl"

    def result_path(self, rank: int) -> Path:
        return self.workdir / f"rank{rank}.result.pkl"

    def error_path(self, rank: int) -> Path:
        return self.workdir / f"rank{rank}.error.pkl"


@dataclass(frozen=True)
class _RankError:
    """A picklable account of an exception raised in a rank (the exception may not pickle)."""

    type_name: str
    message: str
    traceback: str
    user_error: bool  # a PargnnError: report its message only
    lost_peer: bool  # looks like a consequence of another rank failing
    time: float

    @classmethod
    def from_exception(cls, exc: BaseException) -> _RankError:
        return cls(
            type_name=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            user_error=isinstance(exc, PargnnError),
            lost_peer=_looks_like_lost_peer(exc),
            time=time.time(),
        )


def _looks_like_lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is the kind of error a collective raises when another rank died."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    markers = ("gloo", "nccl", "connection closed", "connection reset", "broken pipe", "timed out")
    return isinstance(exc, RuntimeError) and any(m in text for m in markers)


def _write_pickle(path: Path, obj: object) -> None:
    """Write atomically: the parent never reads half a file."""
    partial = path.with_suffix(".partial")
    with partial.open("wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def _read_pickle(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the process that spawned it dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 == PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: the parent's own cleanup still applies
        pass


def _worker(index: int, fn: Callable[[WorkerContext, Any], Any], spec: _Spec) -> None:
    """The body of spawned rank ``index``; called by torch.multiprocessing as fn(i, *args)."""
    _die_with_parent()
    rank = index
    try:
        if spec.backend == "gloo" and sys.platform.startswith("linux"):
            # One machine: talk over loopback, whatever the hostname resolves to.
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        torch.set_num_threads(spec.threads)
        ctx = WorkerContext(rank, spec.world_size, rank, _device(spec.backend, rank), spec.backend)
        if spec.backend == "nccl":
            torch.cuda.set_device(ctx.device)
        dist.init_process_group(
            spec.backend,
            init_method=f"tcp://127.0.0.1:{spec.port}",
            rank=rank,
            world_size=spec.world_size,
            timeout=timedelta(seconds=spec.timeout_s),
        )
        result = fn(ctx, _read_pickle(spec.payload_path()))
        _write_pickle(spec.result_path(rank), result)
        # Rank 0 hosts the rendezvous store: nobody leaves before everybody is done.
        dist.barrier(device_ids=[rank] if spec.backend == "nccl" else None)
        dist.destroy_process_group()
    except Exception as exc:
        _write_pickle(spec.error_path(rank), _RankError.from_exception(exc))
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip interpreter shutdown: destructors of a broken process group can block.
        os._exit(1)


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------


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
        payload_file = workdir / "payload.pkl"
        _write_pickle(payload_file, payload)
        for attempt in (1, 2):
            spec = _Spec(nprocs, backend, free_port(), threads, timeout_s, workdir)
            outcome = _run_once(fn, spec)
            if not isinstance(outcome, RankFailedError):
                return outcome
            if attempt == 2 or "address already in use" not in str(outcome).lower():
                raise outcome
            for path in workdir.iterdir():  # another process took the port: try a new one
                if path != payload_file:
                    path.unlink()
        raise AssertionError("unreachable")
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
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            f"launch needs a module-level function to send to the processes; {fn!r} "
            f"cannot be pickled ({exc})"
        ) from exc


def _run_once(fn: Callable[[WorkerContext, Any], R], spec: _Spec) -> list[R] | RankFailedError:
    """Start the ranks, wait for all of them or for the first failure; stop every one."""
    before = set(multiprocessing.active_children())
    try:
        context = torch_mp.start_processes(
            _worker, args=(fn, spec), nprocs=spec.world_size, join=False, start_method="spawn"
        )
    except BaseException:
        _stop([p for p in multiprocessing.active_children() if p not in before], grace_s=0.0)
        raise
    processes: list[BaseProcess] = list(context.processes)
    try:
        failed = _wait_for_all_or_failure(processes, spec)
    except BaseException:  # KeyboardInterrupt included: take every child down with us
        _stop(processes, grace_s=0.0)
        raise
    if not failed:
        return [_read_pickle(spec.result_path(rank)) for rank in range(spec.world_size)]
    signalled = _stop(processes, grace_s=_GRACE_S)
    return _diagnose(processes, spec, failed, signalled)


def _wait_for_all_or_failure(processes: Sequence[BaseProcess], spec: _Spec) -> list[int]:
    """Block until every rank exited with a result (-> []) or some did not (-> those ranks)."""
    pending: dict[Any, int] = {p.sentinel: rank for rank, p in enumerate(processes)}
    while pending:
        failed = []
        for sentinel in multiprocessing.connection.wait(list(pending)):
            rank = pending.pop(sentinel)
            processes[rank].join()
            if processes[rank].exitcode != 0 or not spec.result_path(rank).exists():
                failed.append(rank)
        if failed:
            return failed
    return []


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


def _diagnose(
    processes: Sequence[BaseProcess], spec: _Spec, failed: list[int], signalled: set[int]
) -> RankFailedError:
    """Name the rank whose failure started it all and say what happened to it.

    Preference: a rank that died without a record (a signal, an exit code) and that we did not
    stop ourselves; else the earliest exception that is not a lost peer; else the earliest
    exception; else the first failure the parent saw.
    """
    records: dict[int, _RankError] = {}
    for rank in range(spec.world_size):
        if spec.error_path(rank).exists():
            records[rank] = _read_pickle(spec.error_path(rank))
    silent = [
        r
        for r in range(spec.world_size)
        if r not in records
        and r not in signalled
        and (processes[r].exitcode != 0 or not spec.result_path(r).exists())
    ]
    own = sorted((rec.time, r) for r, rec in records.items() if not rec.lost_peer)
    any_error = sorted((rec.time, r) for r, rec in records.items())
    if silent:
        rank = next((r for r in failed if r in silent), silent[0])
    elif own:
        rank = own[0][1]
    elif any_error:
        rank = any_error[0][1]
    else:
        rank = failed[0]
    if rank in records:
        return _error_from_record(rank, records[rank])
    return RankFailedError(rank, _death_message(rank, processes[rank].exitcode))


def _error_from_record(rank: int, record: _RankError) -> RankFailedError:
    if record.user_error:
        return RankFailedError(rank, f"rank {rank}: {record.message}")
    # The last frames, without Python 3.11's ^^^^ position markers.
    lines = [ln for ln in record.traceback.rstrip().splitlines() if ln.strip(" ^~")]
    tail = lines[-_TRACEBACK_LINES:]
    message = (
        f"rank {rank} failed with {record.type_name}: {record.message}\n"
        "  end of its traceback:\n" + "\n".join("    " + line for line in tail)
    )
    return RankFailedError(rank, message, record.traceback)


def _death_message(rank: int, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"rank {rank} was killed by signal {-exitcode} ({name})"
    if exitcode == 0:
        return f"rank {rank} exited without returning a result (was it interrupted?)"
    return f"rank {rank} exited with code {exitcode} without reporting an error"


# --------------------------------------------------------------------------------------------
# Under torchrun
# --------------------------------------------------------------------------------------------


def run_under_torchrun(
    fn: Callable[[WorkerContext, Any], R],
    payload: Any,
    *,
    backend: str = "auto",
    timeout_s: float = 600.0,
) -> list[R] | None:
    """When this process was started by torchrun (RANK/WORLD_SIZE/MASTER_ADDR/... in the env),
    join the env:// group, run fn, gather every rank's return value to rank 0 (gather_object),
    destroy the group; return the list on rank 0 and None elsewhere.

    An exception in ``fn`` propagates (the process exits non-zero) and torchrun's agent stops
    the other ranks. Raises :class:`~pargnn.errors.ConfigError` when torchrun did not start
    this process.
    """
    if not under_torchrun():
        missing = ", ".join(n for n in _TORCHRUN_ENV if n not in os.environ)
        raise ConfigError(
            f"this process was not started by torchrun ({missing} not set); run "
            "`torchrun --nproc_per_node P -m pargnn train ...` or `pargnn train --nprocs P ...`"
        )
    backend = resolve_backend(backend)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    ctx = WorkerContext(rank, world_size, local_rank, _device(backend, local_rank), backend)
    if backend == "nccl":
        torch.cuda.set_device(ctx.device)
    dist.init_process_group(
        backend,
        init_method="env://",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )
    result = fn(ctx, payload)
    gathered: list[Any] | None = [None] * world_size if rank == 0 else None
    dist.gather_object(result, gathered, dst=0)
    dist.destroy_process_group()
    return gathered
