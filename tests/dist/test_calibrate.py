"""``calibrate``: a real (quick) calibration on two gloo processes yields a complete, usable
profile, and the requests it cannot serve are refused before any process starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pargnn.errors import ConfigError
from pargnn.planner.calibrate import _slowest, calibrate
from pargnn.planner.calibration.plan import measurement_plan as _plan
from pargnn.planner.profile import COLLECTIVES, KERNELS, load_profile, save_profile

# A quick calibration at P=2 takes a few seconds; this is the bound the CLI promises, with room
# for a loaded machine.
QUICK_BOUND_S = 60.0


@pytest.mark.timeout(120)
def test_quick_calibration_at_two_processes(tmp_path: Path) -> None:
    lines: list[str] = []
    start = time.monotonic()
    profile = calibrate(2, threads=1, device="cpu", quick=True, progress=lines.append)
    elapsed = time.monotonic() - start
    assert elapsed < QUICK_BOUND_S

    assert profile.origin == "calibrated" and profile.sources == ("pargnn calibrate",)
    assert (profile.backend, profile.device, profile.nprocs) == ("gloo", "cpu", 2)
    assert profile.threads_per_process == 1
    assert profile.name.startswith("calibrated-") and profile.name.endswith("-gloo-P2")
    assert profile.memory_bytes is not None and profile.memory_bytes > 0
    assert {"hostname", "platform", "cpu_count", "torch", "python"} <= set(profile.machine)

    assert set(profile.collectives) == set(COLLECTIVES)
    for op in COLLECTIVES:
        assert set(profile.collectives[op]) == {2}, op
    assert set(profile.kernels) == set(KERNELS)
    fits = [*profile.kernels.values(),
            *(f for by_group in profile.collectives.values() for f in by_group.values())]
    for fit in fits:
        assert fit.alpha >= 0 and fit.beta >= 0 and fit.samples >= 3
    all_reduce, spmm = profile.collective("all_reduce", 2), profile.kernel("spmm")
    assert all_reduce.beta > 0 and spmm.beta > 0
    # Loose bounds: a shared machine is noisy, but a line must explain most of the variation.
    assert all_reduce.r2 is not None and all_reduce.r2 > 0.8, all_reduce
    assert spmm.r2 is not None and spmm.r2 > 0.8, spmm

    # Progress: the launch, then every stage as rank 0 reaches it, in order.
    assert lines[0].startswith("starting 2 processes (gloo")
    stages = [next(i for i, line in enumerate(lines) if line.startswith(op))
              for op in (*COLLECTIVES, "spmm", "gemm", "elementwise", "dropout",
                         "a reference training step", "predicting the reference steps")]
    assert stages == sorted(stages)
    # the reference steps' excess per collective call (pargnn.planner.reference)
    assert 0.0 <= profile.sync_seconds < 1.0
    assert 0.0 <= profile.all_to_all_sync_seconds < 1.0
    assert 0.0 <= profile.reduce_scatter_sync_seconds < 1.0
    # SpMM on two processes at once against one alone: a ratio, not a time
    assert profile.kernel_concurrency is not None and 0.2 < profile.kernel_concurrency < 20

    profile.validate()
    path = tmp_path / "here.json"
    save_profile(profile, path)
    assert load_profile(str(path)) == profile


@pytest.mark.parametrize("nprocs", [1, 0])
def test_one_process_cannot_time_collectives(nprocs: int) -> None:
    with pytest.raises(ConfigError, match="needs --nprocs >= 2"):
        calibrate(nprocs)


def test_unknown_device_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        calibrate(2, device="tpu")


@pytest.mark.parametrize("nprocs,groups", [(2, (2,)), (3, (3,)), (6, (2, 3, 6)), (8, (2, 4, 8))])
def test_group_sizes_are_the_divisors_of_p(nprocs: int, groups: tuple[int, ...]) -> None:
    for quick in (True, False):
        assert _plan(nprocs, quick, None).group_sizes == groups


def test_each_point_is_the_slowest_ranks_median() -> None:
    """A collective ends when its slowest member does; a rank without a partner (odd P) has
    no p2p points and does not count."""
    ranks = [{("all_reduce", 2): [(4.0, 1e-4), (64.0, 3e-4)], ("p2p", 2): [(4.0, 5e-5)]},
             {("all_reduce", 2): [(4.0, 2e-4), (64.0, 2e-4)], ("p2p", 2): [(4.0, 4e-5)]},
             {("all_reduce", 2): [(4.0, 1e-4), (64.0, 1e-4)]}]
    assert _slowest(ranks) == {("all_reduce", 2): [(4.0, 2e-4), (64.0, 3e-4)],
                               ("p2p", 2): [(4.0, 5e-5)]}
