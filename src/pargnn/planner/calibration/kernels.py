"""The local kernels, timed on every rank at once, and SpMM again on this process alone.

Why: a kernel's rate on a rank depends on what the other ranks do meanwhile -- they share the
cores, the caches and the memory bandwidth -- so the kernels are timed as training runs them,
and the difference that sharing makes is measured as well.

**Kernels** -- ``spmm`` (``torch.sparse.mm`` of a random CSR matrix of average degree 10 by a
dense matrix), ``sddmm`` (``torch.sparse.sampled_addmm`` on the same pattern), ``gemm``
(``x @ w``), ``elementwise`` (``relu`` and a product) and ``dropout`` (pargnn's keyed dropout
through autograd, forward and backward: two units per element) -- are timed on every rank
while all ``P`` ranks compute at once (:func:`time_kernels`, with the
:class:`~pargnn.planner.calibration.collectives.Clock`), with the threads per process that
training will use: on a machine with fewer cores than ``P x threads`` the rates are those the
run will see, not those of an idle machine. Units are those of :mod:`pargnn.planner.profile`
(non-zeros x columns, multiply-adds, elements). Besides its line, a kernel keeps the median
time of each size it was timed at (:func:`~pargnn.planner.calibration.fitting.kernel_fit`): the
planner interpolates between them, since a kernel's rate changes several times between a
block that fits in cache and one that streams from memory.

**SpMM alone** (:func:`kernel_concurrency`, on the calling process, once the workers have
exited): the same products again, on one process; the median ratio of the times together to
alone is the profile's ``kernel_concurrency``, which the planner uses to bring its own timings
of a graph's sparse products (taken alone) to the pace of ``P`` processes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from torch import Tensor

from pargnn.cost.sparse_timing import torch_threads
from pargnn.dist.launch import WorkerContext
from pargnn.ops.dropout import keyed_dropout
from pargnn.planner.calibration.collectives import Clock
from pargnn.planner.calibration.plan import Plan
from pargnn.planner.calibration.progress import say
from pargnn.planner.profile import KERNELS

__all__ = ["kernel_concurrency", "time_kernels"]

_AVERAGE_DEGREE = 10


def time_kernels(ctx: WorkerContext, plan: Plan, clock: Clock
                 ) -> dict[str, list[tuple[float, float]]]:
    """Each kernel at each size of the plan, every rank at once: ``(units, seconds)``."""
    device = ctx.device
    generator = torch.Generator().manual_seed(plan.seed + ctx.rank)
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in KERNELS}

    def points(kernels: list[tuple[str, float, Callable[[], object]]]) -> None:
        seconds = clock.medians([call for _, _, call in kernels], kernels=True)
        for (name, units, _), t in zip(kernels, seconds, strict=True):
            out[name].append((units, t))

    say(plan, ctx, f"spmm and sddmm on {ctx.world_size} process(es) at once")
    for rows in plan.spmm_rows:
        matrix = _random_csr(rows, generator, device)
        nnz = matrix.values().numel()
        for width in plan.spmm_widths:
            x = torch.rand(rows, width, generator=generator).to(device)
            y = torch.rand(rows, width, generator=generator).to(device)
            points([("spmm", nnz * width, partial(torch.sparse.mm, matrix, x)),
                    ("sddmm", nnz * width,
                     partial(torch.sparse.sampled_addmm, matrix, x, y.T, beta=0.0))])
    say(plan, ctx, f"gemm on {ctx.world_size} process(es) at once")
    for m in plan.gemm_rows:
        shapes = [(k, n) for k in plan.gemm_dims for n in plan.gemm_dims]
        points([("gemm", m * k * n, partial(torch.matmul,
                                            torch.rand(m, k, generator=generator).to(device),
                                            torch.rand(k, n, generator=generator).to(device)))
                for k, n in shapes])
    say(plan, ctx, f"elementwise on {ctx.world_size} process(es) at once")
    for count in plan.elementwise_sizes:
        a = torch.randn(count, generator=generator).to(device)
        b = torch.randn(count, generator=generator).to(device)
        points([("elementwise", count, partial(torch.relu, a)),
                ("elementwise", count, partial(torch.mul, a, b))])
    say(plan, ctx, f"dropout on {ctx.world_size} process(es) at once")
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


def _dropout_step(h: Tensor, grad: Tensor, key: int, row_ids: Tensor, columns: Tensor) -> None:
    """One keyed dropout through autograd: the mask, the product and its gradient."""
    keyed_dropout(h, 0.5, key, row_ids, columns).backward(grad)
    h.grad = None


def kernel_concurrency(plan: Plan, together: list[tuple[float, float]], threads: int
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


def _median_alone(call: Callable[[], object], plan: Plan) -> float:
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
