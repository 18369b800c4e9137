"""Memory of this process as the OS counts it: current and peak resident set.

On Linux the peak (``VmHWM``) can be reset (``/proc/self/clear_refs``), which lets a benchmark
measure the peak of one phase (training) apart from an earlier, larger one (graph generation).
Elsewhere the peak is ``getrusage``'s lifetime high-water mark and cannot be reset.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

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
