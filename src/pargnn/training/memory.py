"""Memory of this process: the resident set as the OS counts it, and tensor bytes.

On Linux the peak (``VmHWM``) can be reset (``/proc/self/clear_refs``), which lets a benchmark
measure the peak of one phase (training) apart from an earlier, larger one (graph generation).
Elsewhere the peak is ``getrusage``'s lifetime high-water mark and cannot be reset.
"""

from __future__ import annotations

import gc
import resource
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch.autograd import DeviceType

T = TypeVar("T")

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_bytes() -> int:
    """The high-water mark of this process's resident set since start (or the last reset)."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    """This process's resident set now (0 where the OS does not say)."""
    rss = _status_kib("VmRSS")
    return rss * 1024 if rss is not None else 0


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window; ``False`` where the OS cannot (then peaks are lifetime)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


# -- tensor bytes -------------------------------------------------------------------------------
# The resident set counts the allocator's caches and freed pages it has not returned, so it
# says little about what a layout needs. The training state in tensor bytes is measured
# instead: the storages alive when a training step starts, plus the peak of the allocations
# the profiler records during the step.


def _tensor_storages(tensor: torch.Tensor) -> list[tuple[int, int]]:
    """``(address, bytes)`` of the storages behind a tensor (three for sparse CSR)."""
    parts: tuple[torch.Tensor, ...]
    if tensor.layout == torch.sparse_csr:
        parts = (tensor.crow_indices(), tensor.col_indices(), tensor.values())
    elif tensor.layout == torch.sparse_coo:
        parts = (tensor._indices(), tensor._values())
    else:
        parts = (tensor,)
    out = []
    for part in parts:
        storage = part.untyped_storage()
        out.append((storage.data_ptr(), storage.nbytes()))
    return out


def live_tensor_bytes(device: torch.device) -> int:
    """Bytes of the distinct storages on ``device`` of every tensor Python can reach.

    At the start of a training step every tensor of the training state (graph blocks, vertex
    data, parameters, gradients, optimiser moments) is held by a Python object, so walking
    the garbage collector's objects finds them all; storages shared by views count once.
    """
    gc.collect()
    storages: dict[int, int] = {}
    with warnings.catch_warnings():  # some lazily deprecated objects warn when inspected
        warnings.simplefilter("ignore")
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor)]
    for tensor in tensors:
        if tensor.device == device and not tensor.is_meta:
            for address, nbytes in _tensor_storages(tensor):
                if address:
                    storages[address] = max(storages.get(address, 0), nbytes)
    return sum(storages.values())


def step_peak_tensor_bytes(step: Callable[[], T], device: torch.device) -> tuple[T, int]:
    """Run ``step`` and return its result and the peak of the tensor bytes it allocated on
    ``device`` beyond what was alive before it (freed bytes count against the peak)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        value = step()
        torch.cuda.synchronize(device)
        return value, torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        value = step()
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == "[memory]" and e.device_type() == DeviceType.CPU),
                    key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return value, peak


def training_state_peak(step: Callable[[], T], device: torch.device) -> tuple[T, int]:
    """Run one training ``step``; return its result and the peak tensor bytes of the
    training state during it (what was alive before plus the step's peak growth)."""
    if device.type == "cuda":
        resident = torch.cuda.memory_allocated(device)
    else:
        resident = live_tensor_bytes(device)
    value, growth = step_peak_tensor_bytes(step, device)
    return value, resident + growth
