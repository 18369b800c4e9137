"""Measure this machine: what a collective and a local kernel cost, as a :class:`Profile`.

Why: the planner predicts a run's time from exact counts -- for every collective, per group
size, how many calls and how many bytes (:mod:`pargnn.algorithms.exact`); for every local kernel,
how many calls and how many units of work. A profile turns each count into seconds with one
line per (collective, group size) and per kernel, ``seconds = alpha x calls + beta x size``.
:func:`calibrate` fits those lines on the machine the runs will use, in the conditions they
will meet:

* **Collectives** are timed in their own processes (``launch``, gloo on CPU, NCCL on GPU),
  for every group size ``g >= 2`` that divides ``P`` -- the only sizes the process grids make.
  The world is split into ``P / g`` groups of consecutive ranks and *every* group runs the
  collective at the same time, as the algorithms do (all the row groups of a grid broadcast
  at once), so the groups' contention for memory bandwidth, cores and links is in the figure.
  Message sizes are log-spaced, 4 B to 4 MiB of float32 (``quick``: from 64 B, with fewer
  calls; the top stays, or the bandwidth term would drown in the latency's noise). Each point
  is a warm-up call, then calls timed one by one: the ranks agree on how many (about a fixed
  time per point) and make them in interleaved rounds over all the sizes of one collective, a
  barrier before each round, so that a spell of load from elsewhere on the machine spreads
  over every size instead of bending the line at one. A rank keeps the median call and the
  point is the slowest rank's median, because a collective ends when its slowest member does.
  Bytes are recorded in the counting
  convention of :class:`pargnn.dist.comm.Communicator` -- a broadcast, reduce or all-reduce
  counts its tensor; an all-gather of a chunk of ``s`` bytes per member counts the
  ``(g - 1) s`` a member receives; a reduce-scatter to a chunk of ``s`` and an all-to-all of
  ``s`` per peer count the ``(g - 1) s`` a member sends -- so the fitted ``beta`` applies to the
  counted bytes as they stand. ``p2p`` pairs ranks ``2k`` and ``2k + 1`` (ping-pong; half a
  round trip is one message of ``s`` bytes) and is stored under group size 2.
* **Kernels** -- ``spmm`` (``torch.sparse.mm`` of a random CSR matrix of average degree 10 by a
  dense matrix), ``sddmm`` (``torch.sparse.sampled_addmm`` on the same pattern), ``gemm``
  (``x @ w``), ``elementwise`` (``relu`` and a product) and ``dropout`` (pargnn's keyed
  dropout through autograd, forward and backward: two units per element) -- are timed on
  every rank while all ``P`` ranks compute at once, with the threads per process that
  training will use: on a machine with fewer cores than ``P x threads`` the rates are those
  the run will see, not those of an idle machine. Units are those of
  :mod:`pargnn.planner.profile` (non-zeros x columns, multiply-adds, elements). Besides its
  line, a kernel keeps the median time of each size it was timed at: the planner
  interpolates between them, since a kernel's rate changes several times between a block
  that fits in cache and one that streams from memory.
* **Reference training steps** (:mod:`pargnn.planner.reference`): a fixed GCN on a fixed
  synthetic graph is trained for a few steps on the ``P`` processes, with 1D, with
  sparsity-aware 1D and with 3D, and predicted from the fits above; the excess of the
  first per collective call is the profile's ``sync_seconds``, that of the second per
  all-to-all call its ``all_to_all_sync_seconds``, that of the third per reduce-scatter
  call its ``reduce_scatter_sync_seconds``.
* **SpMM alone** (on the calling process, once the workers have exited): the same products
  again, on one process; the median ratio of the times together to alone is the profile's
  ``kernel_concurrency``, which the planner uses to bring its own timings of a graph's
  sparse products (taken alone) to the pace of ``P`` processes.

Each line is fitted by :func:`fit_linear`: least squares weighted by ``1 / seconds^2``, i.e.
on the relative error, so that the small messages determine ``alpha`` and the large ones
``beta``, instead of the largest message deciding both. A kernel's ``beta`` is then refitted
on the absolute error (``absolute_beta``): a kernel's rate falls several times once its
operands leave the caches, and it is the large, out-of-cache calls that make a run's time.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from pargnn.cost.sparse_timing import torch_threads
from pargnn.dist.launch import WorkerContext, launch
from pargnn.errors import ConfigError
from pargnn.ops.dropout import keyed_dropout
from pargnn.planner.profile import COLLECTIVES, KERNELS, LinearFit, Profile
from pargnn.planner.reference import LAYOUTS, reference_steps, sync_from_reference

__all__ = ["calibrate", "fit_linear"]

DEVICES = ("auto", "cpu", "cuda")
# torch 2.13 renamed the tensor-in/tensor-out collectives; older releases have the old names.
_ALL_GATHER = getattr(dist, "all_gather_single", dist.all_gather_into_tensor)
_REDUCE_SCATTER = getattr(dist, "reduce_scatter_single", dist.reduce_scatter_tensor)
_FLOAT = 4  # bytes of a float32
_AVERAGE_DEGREE = 10
_POLL_S = 0.2


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


def fit_linear(sizes: Sequence[float], seconds: Sequence[float], *,
               absolute_beta: bool = False) -> LinearFit:
    """Fit ``seconds = alpha + beta x size`` by least squares weighted by ``1 / seconds^2``.

    The weights make the fit minimise relative errors, so that a 4-byte message (which takes
    microseconds) counts as much as a 4 MiB one (milliseconds): ``alpha`` comes from the small
    sizes, ``beta`` from the large ones. ``alpha`` and ``beta`` are clamped at zero (a negative
    one is refitted with it held at zero); ``r2`` is computed on the unweighted data. With a
    single distinct size the line goes through the origin (``alpha = 0``), or is the mean time
    when that size is 0.

    With ``absolute_beta``, ``beta`` is then refitted on absolute errors with ``alpha`` held,
    so that the largest sizes alone set the rate. The kernels need it: their rate drops by up
    to ten times once the operands leave the caches, and a relative fit would average the
    in-cache rates of the small sizes into the rate of the large calls that dominate a run.
    """
    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(seconds, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"{x.size} sizes but {y.size} times")
    if not x.size:
        raise ValueError("fit_linear needs at least one measurement")
    if not (np.isfinite(x).all() and np.isfinite(y).all() and (x >= 0).all()
            and (y >= 0).all()):
        raise ValueError("sizes and times must be finite and non-negative")
    tiny = max(float(y.max()) * 1e-12, 1e-15)  # a time of 0 (coarse clock) must not weigh inf.
    w = 1.0 / np.maximum(y, tiny) ** 2
    x_mean = float(np.average(x, weights=w))
    y_mean = float(np.average(y, weights=w))
    spread = float(np.sum(w * (x - x_mean) ** 2))
    if spread <= 1e-12 * float(np.sum(w * x * x)):  # one distinct size
        alpha, beta = (0.0, y_mean / x_mean) if x_mean > 0 else (y_mean, 0.0)
    else:
        beta = float(np.sum(w * (x - x_mean) * (y - y_mean))) / spread
        alpha = y_mean - beta * x_mean
        if beta < 0.0:
            alpha, beta = y_mean, 0.0
        elif alpha < 0.0:
            alpha, beta = 0.0, float(np.sum(w * x * y) / np.sum(w * x * x))
    if absolute_beta and float(np.sum(x * x)) > 0.0:
        beta = max(float(np.sum(x * (y - alpha)) / np.sum(x * x)), 0.0)
    residual = float(np.sum((y - alpha - beta * x) ** 2))
    variation = float(np.sum((y - y.mean()) ** 2))
    if variation > 0.0:
        r2 = 1.0 - residual / variation
    else:
        r2 = 1.0 if residual <= (tiny * y.size) ** 2 else 0.0
    return LinearFit(alpha=max(alpha, 0.0), beta=max(beta, 0.0), r2=r2, samples=int(x.size))


# --------------------------------------------------------------------------------------------
# What to measure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Every size a rank measures; all ranks get the same plan and issue the same calls."""

    group_sizes: tuple[int, ...]
    message_bytes: tuple[int, ...]  # per member chunk (all_gather, reduce_scatter, all_to_all)
    spmm_rows: tuple[int, ...]
    spmm_widths: tuple[int, ...]
    gemm_rows: tuple[int, ...]
    gemm_dims: tuple[int, ...]
    elementwise_sizes: tuple[int, ...]
    target_s: float  # time to spend on one point, roughly ...
    min_calls: int  # ... in at least this many timed calls (kernels: kernel_min_calls) ...
    max_calls: int  # ... and at most this many, ...
    rounds: int  # ... spread over this many interleaved rounds
    kernel_min_calls: int
    progress_path: str | None
    quick: bool = False  # the small reference step (pargnn.planner.reference)
    seed: int = 0


def _log_spaced(low: int, high: int, factor: int) -> tuple[int, ...]:
    out = [low]
    while out[-1] * factor <= high:
        out.append(out[-1] * factor)
    return tuple(out)


def _plan(nprocs: int, quick: bool, progress_path: str | None) -> _Plan:
    groups = tuple(g for g in range(2, nprocs + 1) if nprocs % g == 0)
    if quick:
        return _Plan(
            group_sizes=groups,
            message_bytes=_log_spaced(64, 4 * 1024 * 1024, 4),
            spmm_rows=(2_000, 8_000),
            spmm_widths=(8, 32),
            gemm_rows=(256, 2_048),
            gemm_dims=(16, 64),
            elementwise_sizes=(1_000, 30_000, 1_000_000),
            target_s=0.04,
            min_calls=10,
            max_calls=200,
            rounds=10,
            kernel_min_calls=10,
            progress_path=progress_path,
            quick=True,
        )
    return _Plan(
        group_sizes=groups,
        message_bytes=_log_spaced(4, 4 * 1024 * 1024, 4),
        spmm_rows=(2_000, 6_300, 20_000, 63_000, 200_000),
        spmm_widths=(8, 32, 128),
        gemm_rows=(1_000, 8_000, 64_000),
        gemm_dims=(16, 64, 256),
        elementwise_sizes=(1_000, 10_000, 100_000, 1_000_000, 3_000_000, 10_000_000),
        target_s=0.06,
        min_calls=14,
        max_calls=300,
        rounds=7,
        kernel_min_calls=5,
        progress_path=progress_path,
    )


# --------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RankReport:
    """One rank's medians: ``points[key]`` lists ``(size, seconds)`` in the plan's order."""

    threads: int
    collectives: dict[tuple[str, int], list[tuple[float, float]]]
    kernels: dict[str, list[tuple[float, float]]]
    reference_seconds: tuple[float, ...]  # median reference steps (pargnn.planner.reference)


class _Clock:
    """Timed calls for one rank; every rank makes the same calls to it, in the same order."""

    def __init__(self, ctx: WorkerContext, plan: _Plan) -> None:
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


def _say(plan: _Plan, ctx: WorkerContext, message: str) -> None:
    """Rank 0 appends a progress line to the file the parent relays."""
    if ctx.rank == 0 and plan.progress_path is not None:
        with open(plan.progress_path, "a") as handle:
            handle.write(message + "\n")


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


def _time_collectives(ctx: WorkerContext, plan: _Plan, clock: _Clock
                      ) -> dict[tuple[str, int], list[tuple[float, float]]]:
    out: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for g in plan.group_sizes:
        group, _ = dist.new_subgroups(group_size=g)
        root = (ctx.rank // g) * g
        for op in COLLECTIVES:
            if op == "p2p":
                continue
            _say(plan, ctx, f"{op} in {ctx.world_size // g} group(s) of {g} at once")
            made = [_collective_call(op, max(size // _FLOAT, 1), g, group, root, ctx.device)
                    for size in plan.message_bytes]
            seconds = clock.medians([call for call, _ in made])
            out[(op, g)] = [(float(counted), t)
                            for (_, counted), t in zip(made, seconds, strict=True)]
    _say(plan, ctx, f"p2p between {ctx.world_size // 2} pair(s) of ranks at once")
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


def _random_csr(rows: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A ``rows x rows`` CSR matrix with ``rows x 10`` non-zeros at uniform random places."""
    nnz = rows * _AVERAGE_DEGREE
    row = torch.randint(rows, (nnz,), generator=generator)
    col = torch.randint(rows, (nnz,), generator=generator)
    order = torch.argsort(row * rows + col)
    row, col = row[order], col[order]
    crow = torch.zeros(rows + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=rows), 0)
    values = torch.rand(nnz, generator=generator)
    with warnings.catch_warnings():  # "CSR support is in beta": nothing a user can act on
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, values, (rows, rows),
                                       check_invariants=False).to(device)


def _time_kernels(ctx: WorkerContext, plan: _Plan, clock: _Clock
                  ) -> dict[str, list[tuple[float, float]]]:
    device = ctx.device
    generator = torch.Generator().manual_seed(plan.seed + ctx.rank)
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in KERNELS}

    def points(kernels: list[tuple[str, float, Callable[[], object]]]) -> None:
        seconds = clock.medians([call for _, _, call in kernels], kernels=True)
        for (name, units, _), t in zip(kernels, seconds, strict=True):
            out[name].append((units, t))

    _say(plan, ctx, f"spmm and sddmm on {ctx.world_size} process(es) at once")
    for rows in plan.spmm_rows:
        matrix = _random_csr(rows, generator, device)
        nnz = matrix.values().numel()
        for width in plan.spmm_widths:
            x = torch.rand(rows, width, generator=generator).to(device)
            y = torch.rand(rows, width, generator=generator).to(device)
            points([("spmm", nnz * width, partial(torch.sparse.mm, matrix, x)),
                    ("sddmm", nnz * width,
                     partial(torch.sparse.sampled_addmm, matrix, x, y.T, beta=0.0))])
    _say(plan, ctx, f"gemm on {ctx.world_size} process(es) at once")
    for m in plan.gemm_rows:
        shapes = [(k, n) for k in plan.gemm_dims for n in plan.gemm_dims]
        points([("gemm", m * k * n, partial(torch.matmul,
                                            torch.rand(m, k, generator=generator).to(device),
                                            torch.rand(k, n, generator=generator).to(device)))
                for k, n in shapes])
    _say(plan, ctx, f"elementwise on {ctx.world_size} process(es) at once")
    for count in plan.elementwise_sizes:
        a = torch.randn(count, generator=generator).to(device)
        b = torch.randn(count, generator=generator).to(device)
        points([("elementwise", count, partial(torch.relu, a)),
                ("elementwise", count, partial(torch.mul, a, b))])
    _say(plan, ctx, f"dropout on {ctx.world_size} process(es) at once")
    for count in plan.elementwise_sizes:
        width = 64
        rows = max(count // width, 1)
        h = torch.randn(rows, width, generator=generator).to(device).requires_grad_()
        row_ids = torch.arange(rows, device=device)
        columns = torch.arange(width, device=device)
        grad = torch.ones(rows, width, device=device)
        # forward and backward, 2 units per element (as pargnn.cost.compute counts them)
        points([("dropout", 2 * rows * width,
                 partial(_dropout_step, h, grad, plan.seed, row_ids, columns))])
    return out


def _dropout_step(h: Tensor, grad: Tensor, key: int, row_ids: Tensor, columns: Tensor) -> None:
    """One keyed dropout through autograd: the mask, the product and its gradient."""
    keyed_dropout(h, 0.5, key, row_ids, columns).backward(grad)
    h.grad = None


def _measure(ctx: WorkerContext, plan: _Plan) -> _RankReport:
    """The body of each calibration rank (module level: spawn pickles it by name)."""
    clock = _Clock(ctx, plan)
    collectives = _time_collectives(ctx, plan, clock)
    kernels = _time_kernels(ctx, plan, clock)
    _say(plan, ctx, f"a reference training step on {ctx.world_size} process(es): 1D, "
         "sparsity-aware 1D and 3D")
    clock.barrier()
    steps = reference_steps(ctx, plan.quick)
    return _RankReport(torch.get_num_threads(), collectives, kernels, steps)


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------


def _slowest(reports: Sequence[dict[Any, list[tuple[float, float]]]]
             ) -> dict[Any, list[tuple[float, float]]]:
    """Per key and point, the largest median over the ranks that measured it."""
    merged: dict[Any, list[tuple[float, float]]] = {}
    for report in reports:
        for key, points in report.items():
            if key not in merged:
                merged[key] = list(points)
                continue
            merged[key] = [(size, max(t0, t1))
                           for (size, t0), (_, t1) in zip(merged[key], points, strict=True)]
    return merged


def _fit(points: list[tuple[float, float]], absolute_beta: bool = False) -> LinearFit:
    return fit_linear([s for s, _ in points], [t for _, t in points],
                      absolute_beta=absolute_beta)


def _kernel_concurrency(plan: _Plan, together: list[tuple[float, float]], threads: int
                        ) -> float | None:
    """The median, over the SpMM sizes, of the time with every process computing at once
    (``together``: the slowest rank's samples) over the same product on this process alone,
    with ``threads`` threads. Run after the workers have exited, on an idle machine."""
    medians: dict[float, list[float]] = {}
    for units, seconds in together:
        medians.setdefault(units, []).append(seconds)
    generator = torch.Generator().manual_seed(plan.seed)
    ratios = []
    with torch_threads(threads):
        for rows in plan.spmm_rows:
            matrix = _random_csr(rows, generator, torch.device("cpu"))
            nnz = matrix.values().numel()
            for width in plan.spmm_widths:
                if nnz * width in medians:
                    x = torch.rand(rows, width, generator=generator)
                    alone = _median_alone(partial(torch.sparse.mm, matrix, x), plan)
                    ratios.append(float(np.median(medians[nnz * width])) / alone)
    return float(np.median(ratios)) if ratios else None


def _median_alone(call: Callable[[], object], plan: _Plan) -> float:
    """Median seconds of ``call`` on this process, after one call to warm up: at least
    ``plan.kernel_min_calls`` calls, more until ``plan.target_s`` (``plan.max_calls`` at
    most)."""
    call()
    times: list[float] = []
    while len(times) < plan.kernel_min_calls or (
            sum(times) < plan.target_s and len(times) < plan.max_calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _kernel_fit(points: list[tuple[float, float]]) -> LinearFit:
    """The kernel's line and its measured points: the median time per call of each size
    (:meth:`~pargnn.planner.profile.LinearFit.call_seconds` interpolates between them)."""
    by_size: dict[float, list[float]] = {}
    for size, seconds in points:
        by_size.setdefault(size, []).append(seconds)
    medians = tuple((size, float(np.median(times))) for size, times in sorted(by_size.items()))
    return dataclasses.replace(_fit(points, absolute_beta=True), points=medians)


@contextmanager
def _relay(progress: Callable[[str], None] | None) -> Iterator[str | None]:
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


def _resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda needs a CUDA GPU and this machine has none; "
                          "use --device cpu (or auto)")
    return device


def _memory_bytes(device: str, nprocs: int) -> int | None:
    if device == "cuda":
        return int(torch.cuda.get_device_properties(0).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // nprocs
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return None


def _machine(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def calibrate(nprocs: int, threads: int | None = None, device: str = "auto",
              quick: bool = False, progress: Callable[[str], None] | None = None) -> Profile:
    """Time every collective and kernel on ``nprocs`` processes of this machine and fit a
    :class:`Profile` (``origin="calibrated"``).

    ``threads`` is the threads per process (``None``: the cores divided among the processes,
    as :func:`~pargnn.dist.launch.launch` does); ``device`` is ``"cpu"`` (gloo), ``"cuda"``
    (NCCL, one GPU per process) or ``"auto"``. ``quick`` measures fewer, smaller sizes (a few
    seconds; good for tests, rough for planning). ``progress`` receives a line as each stage
    starts, called from a helper thread of this process.
    """
    if nprocs < 2:
        raise ConfigError(
            f"pargnn calibrate needs --nprocs >= 2 to time collectives (each one is measured "
            f"over groups of 2 to P processes), got {nprocs}; use the number of processes "
            "that training will run with")
    resolved = _resolve_device(device)
    backend = "nccl" if resolved == "cuda" else "gloo"
    hostname = socket.gethostname()
    if progress is not None:
        progress(f"starting {nprocs} processes ({backend}"
                 f"{'' if threads is None else f', {threads} thread(s) each'})")
    with _relay(progress) as progress_path:
        reports = launch(_measure, _plan(nprocs, quick, progress_path), nprocs,
                         backend=backend, threads_per_process=threads)
    collectives = _slowest([r.collectives for r in reports])
    kernels = _slowest([r.kernels for r in reports])
    concurrency = None
    if resolved == "cpu":
        if progress is not None:
            progress("spmm on this process alone")
        concurrency = _kernel_concurrency(_plan(nprocs, quick, None), kernels["spmm"],
                                          reports[0].threads)
    fits: dict[str, dict[int, LinearFit]] = {}
    for (op, g), points in sorted(collectives.items()):
        fits.setdefault(op, {})[g] = _fit(points)
    profile = Profile(
        name=f"calibrated-{hostname}-{backend}-P{nprocs}",
        origin="calibrated",
        backend=backend,
        device=resolved,
        threads_per_process=reports[0].threads,
        nprocs=nprocs,
        kernels={name: _kernel_fit(kernels[name]) for name in KERNELS},
        collectives=fits,
        memory_bytes=_memory_bytes(resolved, nprocs),
        machine=_machine(resolved),
        sources=("pargnn calibrate",),
        kernel_concurrency=concurrency,
    )
    if progress is not None:
        progress("predicting the reference steps")
    steps = tuple(max(r.reference_seconds[k] for r in reports)  # a step ends with its
                  for k in range(len(LAYOUTS)))                # slowest rank
    terms = sync_from_reference(steps, profile, quick)
    return dataclasses.replace(profile, sync_seconds=terms.sync,
                               all_to_all_sync_seconds=terms.all_to_all,
                               reduce_scatter_sync_seconds=terms.reduce_scatter)
