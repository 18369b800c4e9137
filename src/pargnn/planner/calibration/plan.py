"""What a calibration measures: every size, and how long to spend on each.

Why: the ranks are separate processes that must issue the same calls in the same order, so
they all get one frozen :class:`Plan`, built by the parent and pickled to each of them; the
parent uses the same plan again for the SpMM it times alone. One place says what a full and a
``quick`` calibration cover.

Collective message sizes are log-spaced, 4 B to 4 MiB of float32 (``quick``: from 64 B, with
fewer calls; the top stays, or the bandwidth term would drown in the latency's noise). Group
sizes are every ``g >= 2`` that divides ``P`` -- the only sizes the process grids make. The
kernels' sizes span blocks that fit in cache and blocks that stream from memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Plan", "measurement_plan"]


@dataclass(frozen=True)
class Plan:
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


def measurement_plan(nprocs: int, quick: bool, progress_path: str | None) -> Plan:
    """The plan for ``nprocs`` processes: the full one, or with ``quick`` fewer, smaller sizes
    and calls (and the small reference step); rank 0 appends its progress to
    ``progress_path`` (``None``: nowhere)."""
    groups = tuple(g for g in range(2, nprocs + 1) if nprocs % g == 0)
    # Each size and budget side by side: the quick value, then the full one.
    return Plan(
        group_sizes=groups,
        message_bytes=_log_spaced(64 if quick else 4, 4 * 1024 * 1024, 4),
        spmm_rows=(2_000, 8_000) if quick else (2_000, 6_300, 20_000, 63_000, 200_000),
        spmm_widths=(8, 32) if quick else (8, 32, 128),
        gemm_rows=(256, 2_048) if quick else (1_000, 8_000, 64_000),
        gemm_dims=(16, 64) if quick else (16, 64, 256),
        elementwise_sizes=(
            (1_000, 30_000, 1_000_000) if quick
            else (1_000, 10_000, 100_000, 1_000_000, 3_000_000, 10_000_000)
        ),
        target_s=0.04 if quick else 0.06,
        min_calls=10 if quick else 14,
        max_calls=200 if quick else 300,
        rounds=10 if quick else 7,
        kernel_min_calls=10 if quick else 5,
        progress_path=progress_path,
        quick=quick,
    )
