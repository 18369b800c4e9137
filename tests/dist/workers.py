"""Module-level functions for the launcher tests: spawn pickles a function by its name.

Every worker first records its pid in ``payload["pid_dir"]`` so the test can check afterwards
that no process outlived the launch, whatever happened to the rank.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from pargnn.dist.launch import WorkerContext
from pargnn.errors import ConfigError


def _record_pid(ctx: WorkerContext, payload: dict[str, Any]) -> None:
    path = Path(payload["pid_dir"]) / f"rank{ctx.rank}.pid"
    path.write_text(str(os.getpid()))


def sum_of_ranks(ctx: WorkerContext, payload: dict[str, Any]) -> dict[str, Any]:
    """All-reduce rank + 1 and report who this rank thinks it is."""
    _record_pid(ctx, payload)
    value = torch.tensor([float(ctx.rank + 1)])
    dist.all_reduce(value)
    return {
        "rank": ctx.rank,
        "world_size": ctx.world_size,
        "dist_rank": dist.get_rank(),
        "dist_world_size": dist.get_world_size(),
        "local_rank": ctx.local_rank,
        "device": str(ctx.device),
        "backend": ctx.backend,
        "sum": value.item(),
        "payload_tag": payload["tag"],
    }


def _fail(how: str) -> None:
    if how == "value_error":
        raise ValueError("boom from the bad rank")
    if how == "config_error":
        raise ConfigError("bad grid")
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError(f"unknown failure {how!r}")


def fail_one_rank(ctx: WorkerContext, payload: dict[str, Any]) -> int:
    """Rank ``payload["bad_rank"]`` fails as ``payload["how"]`` says; the others wait for it,
    in an all-reduce (``payload["wait"] == "collective"``) or in a long sleep that no
    collective error can interrupt (``"sleep"``)."""
    _record_pid(ctx, payload)
    if ctx.rank == payload["bad_rank"]:
        time.sleep(payload.get("delay_s", 0.0))
        _fail(payload["how"])
    if payload.get("wait", "collective") == "sleep":
        time.sleep(600)
    else:
        dist.all_reduce(torch.ones(1))
    return ctx.rank


def num_threads(ctx: WorkerContext, payload: dict[str, Any]) -> int:
    _record_pid(ctx, payload)
    return torch.get_num_threads()


def block_forever(ctx: WorkerContext, payload: dict[str, Any]) -> None:
    """Every rank waits in a barrier that one rank never joins (so the parent must stop them)."""
    _record_pid(ctx, payload)
    if ctx.rank == 0:
        time.sleep(600)
    dist.barrier()


def big_result(ctx: WorkerContext, payload: dict[str, Any]) -> torch.Tensor:
    """A few MB per rank: results must not clog whatever carries them back."""
    _record_pid(ctx, payload)
    return torch.full((payload["numel"],), float(ctx.rank))


def deaf_to_sigint(ctx: WorkerContext, payload: dict[str, Any]) -> None:
    """Sleep through SIGINT, as a rank stuck in a C++ kernel would (torch's own
    parent-death signal is SIGINT, so only a harder one ends this)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _record_pid(ctx, payload)
    time.sleep(600)
