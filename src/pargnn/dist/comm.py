"""Collectives that count what they move: the communication log of a run.

Every collective an algorithm issues goes through a :class:`Communicator`, which records the
call, its payload bytes and its wall time in a :class:`CommLog` under the current phase
(forward aggregation, backward aggregation, dense transform, loss, setup, ...). The log is an
object the run owns, never module state. The exact cost model (:mod:`pargnn.cost`) predicts
these same numbers; the tests hold the two equal to the byte.

Counting convention (per rank, per call; a group of one process issues no call and counts
nothing):

* ``broadcast``: the bytes of the tensor (the root sends it, every other member receives it);
* ``all_reduce`` (sum or max): the bytes of the tensor;
* ``reduce`` (a sum to one root): the bytes of the tensor;
* ``all_gather``: the bytes this rank receives from the others (output minus its own input);
* ``reduce_scatter``: the bytes this rank sends to the others (input minus its own output);
* ``all_to_all``: the bytes this rank sends to the others (its own split excluded); a member
  with nothing to send still makes the call and counts it, with 0 bytes.

One call is one message in the counts; how the backend splits it into packets is its business.
A call whose tensor is empty is skipped (every member knows the size, so all skip it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor

from pargnn.dist.phases import SETUP

ProcessGroup = dist.ProcessGroup
# torch 2.13 renamed the tensor-in/tensor-out collectives; older releases have the old names.
_all_gather_single = getattr(dist, "all_gather_single", dist.all_gather_into_tensor)
_reduce_scatter_single = getattr(dist, "reduce_scatter_single", dist.reduce_scatter_tensor)


@dataclass
class OpStats:
    """Totals for one operation or phase."""

    calls: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def add(self, nbytes: int, seconds: float) -> None:
        self.calls += 1
        self.bytes += nbytes
        self.seconds += seconds

    def as_dict(self) -> dict[str, float]:
        return {"calls": self.calls, "bytes": self.bytes, "seconds": self.seconds}


@dataclass
class CommLog:
    """Calls, bytes and seconds per operation, per phase, and per (phase, operation, group
    size): the last is what the planner's time model prices, since a collective's cost
    depends on how many processes take part.

    Phases nest: ``with log.phase("train"): with log.phase("forward_aggregation"): ...``
    records under ``"train/forward_aggregation"``.
    """

    by_op: dict[str, OpStats] = field(default_factory=dict)
    by_phase: dict[str, OpStats] = field(default_factory=dict)
    by_phase_op: dict[tuple[str, str], OpStats] = field(default_factory=dict)
    by_call: dict[tuple[str, str, int], OpStats] = field(default_factory=dict)
    _stack: list[str] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._stack.append(name)
        try:
            yield
        finally:
            self._stack.pop()

    @property
    def current_phase(self) -> str:
        return "/".join(self._stack) or SETUP

    def record(self, op: str, nbytes: int, seconds: float, group: int = 0) -> None:
        """One call of ``op`` over ``group`` processes (0: not said) in the current phase."""
        phase = self.current_phase
        for table, key in ((self.by_op, op), (self.by_phase, phase)):
            table.setdefault(key, OpStats()).add(nbytes, seconds)
        self.by_phase_op.setdefault((phase, op), OpStats()).add(nbytes, seconds)
        self.by_call.setdefault((phase, op, group), OpStats()).add(nbytes, seconds)

    def total(self, phase_prefix: str = "") -> OpStats:
        """Sum over the phases whose name starts with ``phase_prefix``."""
        out = OpStats()
        for name, stats in self.by_phase.items():
            if name.startswith(phase_prefix):
                out.calls += stats.calls
                out.bytes += stats.bytes
                out.seconds += stats.seconds
        return out

    def reset(self) -> None:
        self.by_op.clear()
        self.by_phase.clear()
        self.by_phase_op.clear()
        self.by_call.clear()

    def as_dict(self) -> dict[str, object]:
        return {
            "by_op": {k: v.as_dict() for k, v in sorted(self.by_op.items())},
            "by_phase": {k: v.as_dict() for k, v in sorted(self.by_phase.items())},
            "by_call": [{"phase": phase, "op": op, "group": group, **v.as_dict()}
                        for (phase, op, group), v in sorted(self.by_call.items())],
        }


def nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


class Communicator:
    """torch.distributed collectives on explicit groups, each recorded in ``log``.

    Groups are given by their member global ranks too, so that a call on a group of one can be
    skipped (and counted as nothing) without asking the backend.
    """

    def __init__(self, log: CommLog, synchronize_cuda: bool = False) -> None:
        self.log = log
        self.synchronize_cuda = synchronize_cuda

    def _timed(self, op: str, size: int, call: object, group: int) -> None:
        start = time.perf_counter()
        call()  # type: ignore[operator]
        if self.synchronize_cuda:
            torch.cuda.synchronize()
        self.log.record(op, size, time.perf_counter() - start, group)

    def broadcast(self, tensor: Tensor, src: int, group: ProcessGroup | None, size: int) -> None:
        """Broadcast ``tensor`` from global rank ``src`` to the ``size`` members of ``group``."""
        if size > 1 and tensor.numel():
            self._timed("broadcast", nbytes(tensor),
                        lambda: dist.broadcast(tensor, src=src, group=group), size)

    def all_reduce(self, tensor: Tensor, group: ProcessGroup | None, size: int,
                   maximum: bool = False) -> None:
        """Sum (or, with ``maximum``, take the largest of) ``tensor`` in place over the
        ``size`` members of ``group``."""
        op = dist.ReduceOp.MAX if maximum else dist.ReduceOp.SUM
        if size > 1 and tensor.numel():
            self._timed("all_reduce", nbytes(tensor),
                        lambda: dist.all_reduce(tensor, op=op, group=group), size)

    def all_to_all(self, output: Tensor, tensor: Tensor, output_rows: list[int],
                   input_rows: list[int], group: ProcessGroup | None, size: int,
                   own: int) -> None:
        """Send ``input_rows[k]`` rows of ``tensor`` (in member order) to member ``k`` and
        receive ``output_rows[k]`` rows from each into ``output``; ``own`` is this member's
        index (its own split is not counted).

        Every member must call it, even one with nothing to send or receive: whether an
        exchange happens at all is the caller's decision, taken from what all members know.
        """
        if size > 1:
            row_bytes = math.prod(tensor.shape[1:]) * tensor.element_size()
            sent = (sum(input_rows) - input_rows[own]) * row_bytes
            self._timed("all_to_all", sent, lambda: dist.all_to_all_single(
                output, tensor, output_split_sizes=output_rows, input_split_sizes=input_rows,
                group=group), size)
        else:
            output.copy_(tensor)

    def reduce(self, tensor: Tensor, dst: int, group: ProcessGroup | None, size: int) -> None:
        """Sum ``tensor`` over the ``size`` members of ``group`` into global rank ``dst``'s
        copy (the others' copies are left undefined)."""
        if size > 1 and tensor.numel():
            self._timed("reduce", nbytes(tensor),
                        lambda: dist.reduce(tensor, dst=dst, group=group), size)

    def all_gather(self, output: Tensor, tensor: Tensor, group: ProcessGroup | None,
                   size: int) -> None:
        """Concatenate every member's ``tensor`` along dim 0 into ``output``."""
        if size > 1 and tensor.numel():
            self._timed("all_gather", nbytes(output) - nbytes(tensor),
                        lambda: _all_gather_single(output, tensor, group=group), size)
        else:
            output.copy_(tensor)

    def reduce_scatter(self, output: Tensor, tensor: Tensor, group: ProcessGroup | None,
                       size: int) -> None:
        """Sum every member's ``tensor`` and give member ``k`` the ``k``-th chunk along dim 0."""
        if size > 1 and tensor.numel():
            self._timed("reduce_scatter", nbytes(tensor) - nbytes(output),
                        lambda: _reduce_scatter_single(output, tensor, group=group), size)
        else:
            output.copy_(tensor)
