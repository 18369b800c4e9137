"""Progress lines from the ranks to the caller of :func:`~pargnn.planner.calibrate.calibrate`.

Why: a calibration runs for seconds (``quick``) to minutes in processes of its own, and its
caller (the CLI) wants to say which stage is under way. Rank 0 appends a line to a file as
each stage starts (:func:`say`); in the parent, :func:`relay` makes that file, whose path
travels to the ranks in the :class:`~pargnn.planner.calibration.plan.Plan`, and a thread that
hands each complete line to the caller's ``progress``. A file needs nothing from
:func:`~pargnn.dist.launch.launch` beyond the arguments it already pickles.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pargnn.dist.launch import WorkerContext
from pargnn.planner.calibration.plan import Plan

__all__ = ["relay", "say"]

_POLL_S = 0.2


def say(plan: Plan, ctx: WorkerContext, message: str) -> None:
    """Rank 0 appends a progress line to the file the parent relays."""
    if ctx.rank == 0 and plan.progress_path is not None:
        with open(plan.progress_path, "a") as handle:
            handle.write(message + "\n")


@contextmanager
def relay(progress: Callable[[str], None] | None) -> Iterator[str | None]:
    """A file that rank 0 appends progress lines to, and a thread that hands each complete
    line to ``progress`` (in order, from that thread) until the block ends."""
    if progress is None:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="pargnn-calibrate-", suffix=".log")
    os.close(fd)
    done = threading.Event()
    offset = 0

    def drain() -> None:
        nonlocal offset
        with open(path) as handle:
            handle.seek(offset)
            text = handle.read()
        complete = text[: text.rfind("\n") + 1]
        offset += len(complete.encode())
        for line in complete.splitlines():
            progress(line)

    def poll() -> None:
        while not done.wait(_POLL_S):
            drain()

    thread = threading.Thread(target=poll, name="pargnn-calibrate-progress", daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()
        drain()
        Path(path).unlink(missing_ok=True)
