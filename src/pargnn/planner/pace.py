"""How a profile turns a rank's counts into seconds.

Communication: every call priced by its collective's fit for its group size, plus the
profile's sync terms (:mod:`pargnn.planner.reference`). Compute: every kernel call priced by
the kernel's fit, its sparse products scaled to what the rank's own blocks take where they
were timed here (:mod:`pargnn.cost.sparse_timing`), then slowed by the pace of ``P``
processes sharing the machine's cores.

A calibrated CPU profile was measured with ``profile.nprocs`` processes sharing the machine's
cores. Its kernel times are brought back to one process alone (divided by that
oversubscription, ``max(1, P t / cores)``), then slowed by the pace of ``P`` processes
sharing the cores (:func:`shared_pace`: uneven work runs at the busiest rank's pace);
collectives keep their fits per group size. Hand-written (cluster) profiles give each
process its own cores.
"""

from __future__ import annotations

from collections.abc import Sequence

from pargnn.cost.compute import LocalShape, Work, sparse_products
from pargnn.cost.steps import Steps
from pargnn.cost.traffic import Traffic
from pargnn.planner.profile import Profile

SPARSE_KERNELS = ("spmm", "sddmm")


def comm_seconds(traffic: Traffic, profile: Profile) -> float:
    """Every call priced by its collective's fit, plus the profile's sync term per call
    and the extra term of an all-to-all (per peer, :func:`all_to_all_sync`) or a
    reduce-scatter (see :mod:`pargnn.planner.reference`)."""
    return sum(profile.collective(op, group).seconds(traffic.call_bytes[key], calls)
               + (profile.sync_seconds + _extra_sync(profile, op, group)) * calls
               for key, calls in traffic.call_counts.items()
               for _, op, group in [key])


def _extra_sync(profile: Profile, op: str, group: int) -> float:
    """What one call of ``op`` over ``group`` processes pays beyond ``sync_seconds``."""
    if op == "all_to_all":
        return all_to_all_sync(profile, group)
    if op == "reduce_scatter":
        return profile.reduce_scatter_sync_seconds
    return 0.0


def all_to_all_sync(profile: Profile, group: int) -> float:
    """The extra sync of one all-to-all over ``group`` processes. The profile measured it
    over all of its ``nprocs`` processes; an all-to-all waits on each peer in turn, so a
    group of ``g`` pays ``(g - 1) / (nprocs - 1)`` of it."""
    return profile.all_to_all_sync_seconds * (group - 1) / max(profile.nprocs - 1, 1)


def compute_seconds(work: Work, profile: Profile, contention: float,
                    sparse_factor: float = 1.0) -> float:
    """Kernel seconds; ``sparse_factor`` scales the sparse kernels' fitted seconds to what
    the rank's own blocks take (:func:`sparse_factor`)."""
    total = 0.0
    for k, sizes in work.sizes.items():
        fit = profile.kernel(k)
        scale = sparse_factor if k in SPARSE_KERNELS else 1.0
        total += scale * sum(fit.call_seconds(size, calls) for size, calls in sizes.items())
    return contention * total


def oversubscription(profile: Profile, nprocs: int) -> float:
    """How many times over ``nprocs`` processes load the cores of a calibrated CPU
    profile's machine (``max(1, P t / cores)``); 1 for other profiles."""
    cores = int(profile.machine.get("cpu_count", 0) or 0)
    if profile.origin != "calibrated" or profile.device != "cpu" or cores < 1:
        return 1.0
    return max(1.0, nprocs * profile.threads_per_process / cores)


def calibration_pace(profile: Profile) -> float:
    """How many times slower than one process alone the kernels ran while the profile was
    calibrated: measured (``kernel_concurrency``) or, where it was not, the
    oversubscription. Two processes on two cores of a VM can already run each other's
    sparse products 1.5-2x slower than alone (shared caches, memory bandwidth)."""
    if profile.origin != "calibrated" or profile.device != "cpu":
        return 1.0
    if profile.kernel_concurrency is not None:
        return max(1.0, profile.kernel_concurrency)
    return oversubscription(profile, profile.nprocs)


def shared_pace(profile: Profile, nprocs: int, alone: Sequence[float] | None) -> float:
    """How many times slower than alone the ranks compute when ``nprocs`` of them share
    the machine's cores, given each rank's compute seconds ``alone`` (``None``: not
    every rank's is known).

    A rank waiting in a collective leaves its core to the others, so a step whose work is
    uneven runs at the pace of its busiest rank, unless the cores cannot do every rank's
    work in that time: ``max(1, s mean / max)`` with ``s`` the pace of even work, the
    calibration's (:func:`calibration_pace`) scaled by the change in oversubscription
    (:func:`oversubscription`). Even work gives ``s``; one rank with all of it, 1.
    """
    full = (calibration_pace(profile) * oversubscription(profile, nprocs)
            / oversubscription(profile, profile.nprocs))
    if full == 1.0 or not alone or max(alone) <= 0:
        return full
    return max(1.0, full * sum(alone) / len(alone) / max(alone))


def sparse_factor(measured: float, shape: LocalShape, layers: Steps, profile: Profile) -> float:
    """What a rank's sparse products took here alone (``measured``), brought to the
    calibration's load, over what the profile's SpMM fit says they take: the factor that
    turns the fit into the measurement in :func:`compute_seconds`."""
    fit = profile.kernel("spmm")
    priced = sum(fit.call_seconds(nnz * width)
                 for nnz, width in sparse_products(layers, shape.forward_blocks,
                                                   shape.backward_blocks, shape.columns)
                 if nnz * width > 0)
    if priced <= 0:
        return 1.0
    return measured * calibration_pace(profile) / priced
