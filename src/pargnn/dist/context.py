"""Who a process is in a run and which backend it talks over: what both ways of starting a run
share.

A run starts either from :func:`~pargnn.dist.launch.launch` (which spawns the processes itself)
or from ``torchrun`` (:func:`~pargnn.dist.torchrun.run_under_torchrun`). Either way ``fn``
receives the same :class:`WorkerContext`, the backend is chosen by the same rule
(:func:`resolve_backend`), and a rank's device follows from its backend and local rank
(:func:`rank_device`). They live here, apart from both starters, so that neither has to import
the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import torch
import torch.distributed as dist

from pargnn.errors import ConfigError

BACKENDS: Final = ("auto", "gloo", "nccl")


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


def rank_device(backend: str, local_rank: int) -> torch.device:
    """The device a rank computes on: its own GPU under nccl, the CPU under gloo."""
    return torch.device(f"cuda:{local_rank}") if backend == "nccl" else torch.device("cpu")
