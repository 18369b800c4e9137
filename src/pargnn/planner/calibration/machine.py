"""The device a calibration runs on, and the machine it describes.

Why: a profile holds for the machine and the device it was measured on. Calibration resolves
the device asked for (``auto``, ``cpu`` or ``cuda``) before any process starts, refusing
``cuda`` where there is no GPU, and records with the fits the memory each process may use and
a description of the machine (host, platform, processor, versions).
"""

from __future__ import annotations

import os
import platform
import socket
from typing import Any

import torch

from pargnn.errors import ConfigError

__all__ = ["DEVICES", "machine_info", "memory_bytes", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda`` for one of :data:`DEVICES`; refuses ``cuda`` without a GPU."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda needs a CUDA GPU and this machine has none; "
                          "use --device cpu (or auto)")
    return device


def memory_bytes(device: str, nprocs: int) -> int | None:
    """The memory one process may use: the GPU's, or this machine's shared by ``nprocs``."""
    if device == "cuda":
        return int(torch.cuda.get_device_properties(0).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // nprocs
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return None


def machine_info(device: str) -> dict[str, Any]:
    """This machine, as the profile records it (``machine``)."""
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info
