"""Peak memory of this process, as the OS counts it."""

from __future__ import annotations

import resource
import sys


def peak_rss_bytes() -> int:
    """The high-water mark of this process's resident set, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
