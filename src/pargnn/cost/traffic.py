"""Predicted traffic: what one rank's collectives move, call by call.

The exact communication model is not CAGNET's asymptotic table (``docs/algorithms.md`` prints
that beside it) but the count of what pargnn's code sends, call by call, in the counting
convention of :mod:`pargnn.dist.comm`: padding to equal block sizes, the index words of
sparse blocks, the scalar all-reduces of the loss, everything. Each algorithm family writes
its own model against :class:`Traffic` (``pargnn/algorithms/<family>/traffic.py``); the tests
hold :class:`~pargnn.dist.comm.CommLog` totals equal to these predictions to the byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pargnn.layout.spec import GridSpec

INDEX_BYTES = {True: 4, False: 8}  # int32 where it fits
COUNT_BYTES = 16  # two int64: correct and total

Call = tuple[str, str, int]  # (phase, collective, group size)


@dataclass
class Traffic:
    """Predicted calls and bytes of one rank, per phase and per (phase, collective, group
    size), as :class:`~pargnn.dist.comm.CommLog` records them."""

    calls: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    call_counts: Counter[Call] = field(default_factory=Counter)
    call_bytes: Counter[Call] = field(default_factory=Counter)

    def add(self, phase: str, nbytes: int, op: str, group: int) -> None:
        """One call of ``op`` over ``group`` processes, unless it has nothing to move (the
        communicator skips those)."""
        if nbytes > 0:
            self.add_call(phase, nbytes, op, group)

    def add_call(self, phase: str, nbytes: int, op: str, group: int) -> None:
        """A call made even when this rank sends nothing (an all-to-all)."""
        self.calls[phase] += 1
        self.bytes[phase] += nbytes
        self.call_counts[(phase, op, group)] += 1
        self.call_bytes[(phase, op, group)] += nbytes

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def selected_ranks(spec: GridSpec, ranks: Sequence[int] | None) -> Sequence[int]:
    """The ranks to predict: all of ``spec``'s (``None``) or the given ones."""
    return range(spec.size) if ranks is None else ranks


def index_bytes(n: int, nnz: int) -> int:
    """Bytes of one index word of a block of a graph with ``n`` vertices, ``nnz`` non-zeros."""
    return INDEX_BYTES[max(n, nnz) < 2**31]
