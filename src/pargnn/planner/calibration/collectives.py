"""Timing on the ranks: the clock every point goes through, and the collectives it times.

Why: the ranks must make the same calls in the same order -- a collective completes only when
all its members call it, and every point, a kernel's too, is timed in rounds that the ranks
agree on by an all-reduce and start together after a barrier. :class:`Clock` is that
protocol; :func:`time_collectives` hands it the collectives, as
:func:`~pargnn.planner.calibration.kernels.time_kernels` hands it the kernels.

**Collectives** are timed in their own processes (``launch``, gloo on CPU, NCCL on GPU), for
every group size ``g >= 2`` that divides ``P`` -- the only sizes the process grids make. The
world is split into ``P / g`` groups of consecutive ranks and *every* group runs the
collective at the same time, as the algorithms do (all the row groups of a grid broadcast at
once), so the groups' contention for memory bandwidth, cores and links is in the figure.
Message sizes are those of the :class:`~pargnn.planner.calibration.plan.Plan`. Each point is a
warm-up call, then calls timed one by one: the ranks agree on how many (about a fixed time per
point) and make them in interleaved rounds over all the sizes of one collective, a barrier
before each round, so that a spell of load from elsewhere on the machine spreads over every
size instead of bending the line at one. A rank keeps the median call and the point is the
slowest rank's median, because a collective ends when its slowest member does.

Bytes are recorded in the counting convention of :class:`pargnn.dist.comm.Communicator` -- a
broadcast, reduce or all-reduce counts its tensor; an all-gather of a chunk of ``s`` bytes per
member counts the ``(g - 1) s`` a member receives; a reduce-scatter to a chunk of ``s`` and an
all-to-all of ``s`` per peer count the ``(g - 1) s`` a member sends -- so the fitted ``beta``
applies to the counted bytes as they stand. ``p2p`` pairs ranks ``2k`` and ``2k + 1``
(ping-pong; half a round trip is one message of ``s`` bytes) and is stored under group size 2.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from pargnn.dist.launch import WorkerContext
from pargnn.planner.calibration.plan import Plan
from pargnn.planner.calibration.progress import say
from pargnn.planner.profile import COLLECTIVES

__all__ = ["Clock", "time_collectives"]

# torch 2.13 renamed the tensor-in/tensor-out collectives; older releases have the old names.
_ALL_GATHER = getattr(dist, "all_gather_single", dist.all_gather_into_tensor)
_REDUCE_SCATTER = getattr(dist, "reduce_scatter_single", dist.reduce_scatter_tensor)
_FLOAT = 4  # bytes of a float32


class Clock:
    """Timed calls for one rank; every rank makes the same calls to it, in the same order."""

    def __init__(self, ctx: WorkerContext, plan: Plan) -> None:
        self.ctx = ctx
        self.plan = plan
        self.cuda = ctx.device.type == "cuda"

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.ctx.device)

    def barrier(self) -> None:
        if self.ctx.backend == "nccl":
            dist.barrier(device_ids=[self.ctx.local_rank])
        else:
            dist.barrier()

    def _agree(self, estimates: list[float], min_calls: int) -> list[int]:
        """Calls per round for each point, from the slowest rank's estimate of one call."""
        slowest = torch.tensor(estimates, dtype=torch.float64, device=self.ctx.device)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        plan = self.plan
        out = []
        for seconds in slowest.tolist():
            calls = math.ceil(plan.target_s / max(seconds, 1e-7))
            calls = max(min_calls, min(plan.max_calls, calls))
            out.append(math.ceil(calls / plan.rounds))
        return out

    def _estimate(self, call: Callable[[], object], local: bool) -> float:
        """The best of three timed calls. A ``local`` call (a kernel) stops early when it is
        long; a collective may not, since every member must make the same calls."""
        best = spent = self._once(call)
        for _ in range(2):
            if local and spent > self.plan.target_s / 4:
                break
            seconds = self._once(call)
            best, spent = min(best, seconds), spent + seconds
        return best

    def _once(self, call: Callable[[], object]) -> float:
        start = time.perf_counter()
        call()
        self.synchronize()
        return time.perf_counter() - start

    def medians(self, calls: Sequence[Callable[[], object] | None], divide: float = 1.0,
                kernels: bool = False) -> list[float]:
        """The median time of one call of each of ``calls`` (``divide``: messages per call;
        ``kernels``: local computations rather than collectives).

        Each call is warmed up and timed (the best of three). The ranks then agree on how many
        calls of each make about the plan's target time, and time them in interleaved rounds
        -- a barrier, then a few calls of each point in turn -- so that a spell of load from
        elsewhere on the machine spreads over all the points instead of spoiling one. Calls
        are timed one by one (kernels on a GPU, which queues them asynchronously: per round,
        closed by one synchronisation); back-to-back calls keep the ranks in step, so the skew
        with which they leave a barrier affects one sample, which the median discards. A rank
        that takes no part in a point (None) only joins the agreement and the barriers, and
        gets 0 for it. Every rank must pass the same number of calls, in the same order.
        """
        each = not (kernels and self.cuda)
        estimates = []
        for call in calls:
            if call is None:
                estimates.append(0.0)
                continue
            call()  # warm-up: connections, allocations, caches
            self.synchronize()
            estimates.append(self._estimate(call, local=kernels))
        per_round = self._agree(estimates, self.plan.kernel_min_calls if kernels
                                else self.plan.min_calls)
        samples: list[list[float]] = [[] for _ in calls]
        for _ in range(self.plan.rounds):
            self.barrier()
            for call, count, out in zip(calls, per_round, samples, strict=True):
                if call is None:
                    continue
                if each:
                    out.extend(self._once(call) / divide for _ in range(count))
                    continue
                start = time.perf_counter()
                for _ in range(count):
                    call()
                self.synchronize()
                out.append((time.perf_counter() - start) / (count * divide))
        return [statistics.median(out) if out else 0.0 for out in samples]


def time_collectives(ctx: WorkerContext, plan: Plan, clock: Clock
                     ) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """Each collective for each group size, then ``p2p``: ``(counted bytes, seconds)`` per
    size of the plan."""
    out: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for g in plan.group_sizes:
        group, _ = dist.new_subgroups(group_size=g)
        root = (ctx.rank // g) * g
        for op in COLLECTIVES:
            if op == "p2p":
                continue
            say(plan, ctx, f"{op} in {ctx.world_size // g} group(s) of {g} at once")
            made = [_collective_call(op, max(size // _FLOAT, 1), g, group, root, ctx.device)
                    for size in plan.message_bytes]
            seconds = clock.medians([call for call, _ in made])
            out[(op, g)] = [(float(counted), t)
                            for (_, counted), t in zip(made, seconds, strict=True)]
    say(plan, ctx, f"p2p between {ctx.world_size // 2} pair(s) of ranks at once")
    partner = ctx.rank ^ 1
    pairs: list[Callable[[], object] | None] = [
        _ping_pong(ctx.rank, partner, torch.ones(max(size // _FLOAT, 1), device=ctx.device))
        if partner < ctx.world_size else None
        for size in plan.message_bytes]
    seconds = clock.medians(pairs, divide=2.0)
    if partner < ctx.world_size:
        out[("p2p", 2)] = [(float(size), t)
                           for size, t in zip(plan.message_bytes, seconds, strict=True)]
    return out


def _collective_call(op: str, chunk: int, g: int, group: dist.ProcessGroup, root: int,
                     device: torch.device) -> tuple[Callable[[], object], int]:
    """A closure issuing ``op`` over ``group`` with ``chunk`` float32 elements, and the bytes
    the Communicator counts for it."""
    size = chunk * _FLOAT
    if op in ("broadcast", "reduce", "all_reduce"):
        tensor = torch.ones(chunk, device=device)
        if op == "broadcast":
            return (lambda: dist.broadcast(tensor, src=root, group=group)), size
        if op == "reduce":
            return (lambda: dist.reduce(tensor, dst=root, group=group)), size
        return (lambda: dist.all_reduce(tensor, group=group)), size
    small = torch.ones(chunk, device=device)
    large = torch.ones(g * chunk, device=device)
    counted = (g - 1) * size
    if op == "all_gather":
        return (lambda: _ALL_GATHER(large, small, group=group)), counted
    if op == "reduce_scatter":
        return (lambda: _REDUCE_SCATTER(small, large, group=group)), counted
    if op == "all_to_all":
        received = torch.empty_like(large)
        return (lambda: dist.all_to_all_single(received, large, group=group)), counted
    raise ValueError(f"no group call for {op!r}")


def _ping_pong(rank: int, partner: int, tensor: Tensor) -> Callable[[], object]:
    """One round trip between ``rank`` and ``partner``: the even one sends first."""
    def call() -> None:
        if rank % 2 == 0:
            dist.send(tensor, partner)
            dist.recv(tensor, partner)
        else:
            dist.recv(tensor, partner)
            dist.send(tensor, partner)
    return call
