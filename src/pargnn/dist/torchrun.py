"""Run ``fn`` inside processes that ``torchrun`` started, on one machine or several.

::

    torchrun --nproc_per_node 4 -m pargnn train ...   # torchrun starts 4: run_under_torchrun()
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d \\
             --rdzv-endpoint HOST:29500 -m pargnn train ...      # the same, on two machines

Here torchrun, not pargnn, owns the processes: it sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous address in each one's environment, and its agent stops the other ranks when one
exits non-zero. What is left to pargnn is joining the ``env://`` process group and bringing
every rank's return value to rank 0 -- the job :func:`~pargnn.dist.launch.launch` does for the
processes it spawns itself.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, TypeVar

import torch
import torch.distributed as dist

from pargnn.dist.context import WorkerContext, rank_device, resolve_backend
from pargnn.errors import ConfigError

R = TypeVar("R")

_TORCHRUN_ENV: Final = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def under_torchrun() -> bool:
    """Whether torchrun started this process (RANK, WORLD_SIZE and LOCAL_RANK are set)."""
    return all(name in os.environ for name in _TORCHRUN_ENV)


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
    _require_torchrun()
    ctx = _join_env_group(resolve_backend(backend), timeout_s)
    result = fn(ctx, payload)
    gathered: list[Any] | None = [None] * ctx.world_size if ctx.rank == 0 else None
    dist.gather_object(result, gathered, dst=0)
    dist.destroy_process_group()
    # A group still reachable from a reference cycle would otherwise be freed during the
    # interpreter's shutdown, when gloo's worker threads can no longer be joined cleanly
    # (libstdc++ aborts: "terminate called without an active exception"); free it now.
    gc.collect()
    return gathered


def _require_torchrun() -> None:
    if not under_torchrun():
        missing = ", ".join(n for n in _TORCHRUN_ENV if n not in os.environ)
        raise ConfigError(
            f"this process was not started by torchrun ({missing} not set); run "
            "`torchrun --nproc_per_node P -m pargnn train ...` or `pargnn train --nprocs P ...`"
        )


def _join_env_group(backend: str, timeout_s: float) -> WorkerContext:
    """Join the process group torchrun described in the environment; say who we are in it."""
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    ctx = WorkerContext(rank, world_size, local_rank, rank_device(backend, local_rank), backend)
    if backend == "nccl":
        torch.cuda.set_device(ctx.device)
    dist.init_process_group(
        backend,
        init_method="env://",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )
    return ctx
