"""What a failed rank leaves behind, and which rank a failed run is reported under.

When one rank of a spawned run fails, the others usually fail too: a rank whose peer died
raises a gloo or NCCL error from the collective it was waiting in, and the parent stops the
ones that cannot notice. The user should read one message about the rank that failed
*first*, not four interleaved tracebacks. A rank that raises writes a :class:`RankErrorRecord`
(type, message, traceback, and whether it merely lost a peer) -- an exception itself may not
pickle. Once every process is joined, :func:`first_failure` picks the rank that started it
all -- a rank that raised its own error is preferred over ranks that merely lost a peer in a
collective -- and turns its record or its exit code into a :class:`RankFailedError`. A
:class:`~pargnn.errors.PargnnError` raised in a rank keeps its plain message
(``rank 2: <message>``), so the CLI prints it as the one line it would have printed without
processes.
"""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import torch.distributed as dist

from pargnn.errors import PargnnError

# Lines of a remote traceback kept in a RankFailedError message.
_TRACEBACK_LINES: Final = 6
# Words in the message of a RuntimeError that a collective raises when a peer is gone.
_LOST_PEER_MARKERS: Final = (
    "gloo",
    "nccl",
    "connection closed",
    "connection reset",
    "broken pipe",
    "timed out",
)


class RankFailedError(PargnnError):
    """One rank of a launched run failed; every other rank has been stopped.

    ``rank`` is the rank that failed first; ``remote_traceback`` is its full traceback when it
    raised an exception that is not a :class:`PargnnError` (empty otherwise).
    """

    def __init__(self, rank: int, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.rank = rank
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.rank, str(self), self.remote_traceback)


@dataclass(frozen=True)
class RankErrorRecord:
    """A picklable account of an exception raised in a rank (the exception may not pickle)."""

    type_name: str
    message: str
    traceback: str
    user_error: bool  # a PargnnError: report its message only
    lost_peer: bool  # looks like a consequence of another rank failing
    time: float

    @classmethod
    def from_exception(cls, exc: BaseException) -> RankErrorRecord:
        return cls(
            type_name=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            user_error=isinstance(exc, PargnnError),
            lost_peer=_looks_like_lost_peer(exc),
            time=time.time(),
        )


def _looks_like_lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is the kind of error a collective raises when another rank died."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in _LOST_PEER_MARKERS)


def first_failure(
    *,
    exitcodes: Sequence[int | None],
    records: Mapping[int, RankErrorRecord],
    unfinished: Collection[int],
    signalled: Collection[int],
    seen_failing: Sequence[int],
) -> RankFailedError:
    """Name the rank whose failure started it all and say what happened to it.

    ``exitcodes`` holds every rank's exit code once all are joined; ``records`` the error
    records the ranks wrote; ``unfinished`` the ranks that exited non-zero or without a
    result; ``signalled`` the ranks the parent had to stop; ``seen_failing`` the failures the
    parent saw first, in its order.
    """
    # Ranks that died without a record (a signal, an exit code) and that the parent did not
    # stop: nothing else explains their death.
    silent = [
        r
        for r in range(len(exitcodes))
        if r not in records and r not in signalled and r in unfinished
    ]
    rank = _culprit(records, silent, seen_failing)
    if rank in records:
        return _error_from_record(rank, records[rank])
    return RankFailedError(rank, _death_message(rank, exitcodes[rank]))


def _culprit(
    records: Mapping[int, RankErrorRecord], silent: Sequence[int], seen_failing: Sequence[int]
) -> int:
    """Preference: a silent rank (the first the parent saw, if it saw one); else the earliest
    exception that is not a lost peer; else the earliest exception; else the first failure
    the parent saw."""
    own = sorted((rec.time, r) for r, rec in records.items() if not rec.lost_peer)
    any_error = sorted((rec.time, r) for r, rec in records.items())
    if silent:
        return next((r for r in seen_failing if r in silent), silent[0])
    if own:
        return own[0][1]
    if any_error:
        return any_error[0][1]
    return seen_failing[0]


def _error_from_record(rank: int, record: RankErrorRecord) -> RankFailedError:
    if record.user_error:
        return RankFailedError(rank, f"rank {rank}: {record.message}")
    # The last frames, without Python 3.11's ^^^^ position markers.
    lines = [ln for ln in record.traceback.rstrip().splitlines() if ln.strip(" ^~")]
    tail = lines[-_TRACEBACK_LINES:]
    message = (
        f"rank {rank} failed with {record.type_name}: {record.message}\n"
        "  end of its traceback:\n" + "\n".join("    " + line for line in tail)
    )
    return RankFailedError(rank, message, record.traceback)


def _death_message(rank: int, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"rank {rank} was killed by signal {-exitcode} ({name})"
    if exitcode == 0:
        return f"rank {rank} exited without returning a result (was it interrupted?)"
    return f"rank {rank} exited with code {exitcode} without reporting an error"
