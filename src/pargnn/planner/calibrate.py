"""Measure this machine: what a collective and a local kernel cost, as a :class:`Profile`.

Why: the planner predicts a run's time from exact counts -- for every collective, per group
size, how many calls and how many bytes (:mod:`pargnn.algorithms.exact`); for every local kernel,
how many calls and how many units of work. A profile turns each count into seconds with one
line per (collective, group size) and per kernel, ``seconds = alpha x calls + beta x size``.
:func:`calibrate` fits those lines on the machine the runs will use, in the conditions they
will meet. This module is its front door and its parent side: it launches the ``P`` ranks
(:func:`_measure` is each rank's body), merges their reports point by point (the slowest rank's
median, :func:`_slowest`) and fits the profile; the package :mod:`pargnn.planner.calibration`
does the rest:

* **Collectives** (:mod:`~pargnn.planner.calibration.collectives`) are timed in their own
  processes, for every group size that divides ``P``, every group at once, at the sizes of
  the :mod:`~pargnn.planner.calibration.plan`.
* **Kernels** (:mod:`~pargnn.planner.calibration.kernels`) are timed on every rank while all
  ``P`` ranks compute at once, with the threads per process that training will use.
* **Reference training steps** (:mod:`pargnn.planner.reference`): a fixed GCN on a fixed
  synthetic graph is trained for a few steps on the ``P`` processes, with 1D, with
  sparsity-aware 1D and with 3D, and predicted from the fits above; the excess of the
  first per collective call is the profile's ``sync_seconds``, that of the second per
  all-to-all call its ``all_to_all_sync_seconds``, that of the third per reduce-scatter
  call its ``reduce_scatter_sync_seconds``.
* **SpMM alone** (:mod:`~pargnn.planner.calibration.kernels`, on the calling process, once the
  workers have exited) gives the profile's ``kernel_concurrency``.

Each line is fitted by :func:`fit_linear` (:mod:`~pargnn.planner.calibration.fitting`). Rank
0's progress reaches the caller through :mod:`~pargnn.planner.calibration.progress`; the
device and the machine's description come from :mod:`~pargnn.planner.calibration.machine`.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pargnn.dist.launch import WorkerContext, launch
from pargnn.errors import ConfigError
from pargnn.planner.calibration.collectives import Clock, time_collectives
from pargnn.planner.calibration.fitting import fit_linear, fit_points, kernel_fit
from pargnn.planner.calibration.kernels import kernel_concurrency, time_kernels
from pargnn.planner.calibration.machine import machine_info, memory_bytes, resolve_device
from pargnn.planner.calibration.plan import Plan, measurement_plan
from pargnn.planner.calibration.progress import relay, say
from pargnn.planner.profile import KERNELS, LinearFit, Profile
from pargnn.planner.reference import LAYOUTS, reference_steps, sync_from_reference

__all__ = ["calibrate", "fit_linear"]


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
    resolved = resolve_device(device)
    backend = "nccl" if resolved == "cuda" else "gloo"
    hostname = socket.gethostname()
    if progress is not None:
        progress(f"starting {nprocs} processes ({backend}"
                 f"{'' if threads is None else f', {threads} thread(s) each'})")
    with relay(progress) as progress_path:
        reports = launch(_measure, measurement_plan(nprocs, quick, progress_path), nprocs,
                         backend=backend, threads_per_process=threads)
    collectives = _slowest([r.collectives for r in reports])
    kernels = _slowest([r.kernels for r in reports])
    concurrency = None
    if resolved == "cpu":
        if progress is not None:
            progress("spmm on this process alone")
        concurrency = kernel_concurrency(measurement_plan(nprocs, quick, None), kernels["spmm"],
                                         reports[0].threads)
    fits: dict[str, dict[int, LinearFit]] = {}
    for (op, g), points in sorted(collectives.items()):
        fits.setdefault(op, {})[g] = fit_points(points)
    profile = Profile(
        name=f"calibrated-{hostname}-{backend}-P{nprocs}",
        origin="calibrated",
        backend=backend,
        device=resolved,
        threads_per_process=reports[0].threads,
        nprocs=nprocs,
        kernels={name: kernel_fit(kernels[name]) for name in KERNELS},
        collectives=fits,
        memory_bytes=memory_bytes(resolved, nprocs),
        machine=machine_info(resolved),
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


@dataclass(frozen=True)
class _RankReport:
    """One rank's medians: ``points[key]`` lists ``(size, seconds)`` in the plan's order."""

    threads: int
    collectives: dict[tuple[str, int], list[tuple[float, float]]]
    kernels: dict[str, list[tuple[float, float]]]
    reference_seconds: tuple[float, ...]  # median reference steps (pargnn.planner.reference)


def _measure(ctx: WorkerContext, plan: Plan) -> _RankReport:
    """The body of each calibration rank (module level: spawn pickles it by name)."""
    clock = Clock(ctx, plan)
    collectives = time_collectives(ctx, plan, clock)
    kernels = time_kernels(ctx, plan, clock)
    say(plan, ctx, f"a reference training step on {ctx.world_size} process(es): 1D, "
        "sparsity-aware 1D and 3D")
    clock.barrier()
    steps = reference_steps(ctx, plan.quick)
    return _RankReport(torch.get_num_threads(), collectives, kernels, steps)
