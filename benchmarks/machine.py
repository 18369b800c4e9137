"""What every benchmark says of the machine it ran on: the CPU's model name.

Benchmarks are scripts, not a package; each puts this folder on ``sys.path`` to import it.
"""

from __future__ import annotations

from pathlib import Path


def cpu_model() -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` (``unknown`` where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
