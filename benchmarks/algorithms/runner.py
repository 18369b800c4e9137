"""Run one real training (``pargnn.train``) in a child process with a wall-clock limit.

Why a child process: ``pargnn.train`` spawns the P ranks itself and gives no time limit; a
child in its own session can be stopped, with every rank it started, when it runs too long,
and a crash comes back as text instead of ending the sweep. The child writes the run's JSON
(``TrainConfig.out``), which is read back here.

Not a script; imported by ``sweep.py`` and ``timing.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pargnn.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
CHILD = "import json, sys, pargnn; pargnn.train(pargnn.TrainConfig(**json.loads(sys.argv[1])))"
ERROR_TAIL = 3000


def _stop(proc: subprocess.Popen[str]) -> None:
    """End the child's whole session (the child and the ranks it spawned)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def run_training(config: TrainConfig, timeout_s: float) -> dict[str, Any]:
    """The run's JSON dict plus ``wall_seconds``; on failure ``{"error": ..., ...}``."""
    with tempfile.TemporaryDirectory(prefix="pargnn-bench-") as tmp:
        out = Path(tmp) / "run.json"
        payload = json.dumps(dataclasses.asdict(config.replace(out=str(out), quiet=True)))
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, payload], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            text, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            text = f"timed out after {timeout_s:.0f} s"
        wall = time.perf_counter() - start
        if proc.returncode == 0 and out.exists():
            result: dict[str, Any] = json.loads(out.read_text())
            result["wall_seconds"] = wall
            return result
        return {"error": (text or "")[-ERROR_TAIL:], "returncode": proc.returncode,
                "wall_seconds": wall}


def code_version() -> dict[str, Any]:
    """The commit the runs used and whether ``src/`` differed from it (read-only git calls)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"commit": git("rev-parse", "HEAD"),
            "src_modified": bool(git("status", "--porcelain", "--", "src"))}
