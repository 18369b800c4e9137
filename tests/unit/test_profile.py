"""Machine profiles: the fits of a calibration, how a profile answers for any group size, and
how profile files are written and refused."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from pargnn.planner.calibrate import fit_linear
from pargnn.planner.profile import (
    COLLECTIVES,
    KERNELS,
    LinearFit,
    Link,
    Profile,
    ProfileError,
    load_profile,
    save_profile,
)

SIZES = [4.0 * 4**k for k in range(11)]  # 4 B .. 4 MiB, as a calibration measures them
ALPHA, BETA = 2e-5, 5e-10  # 20 us, 2 GB/s


def _kernels() -> dict[str, LinearFit]:
    return {name: LinearFit(1e-6, 1e-9, r2=0.99, samples=10) for name in KERNELS}


def _calibrated(collectives: dict[str, dict[int, LinearFit]]) -> Profile:
    return Profile(name="test", origin="calibrated", backend="gloo", device="cpu",
                   threads_per_process=1, nprocs=8, kernels=_kernels(),
                   collectives=collectives)


def _hand_written(*links: Link) -> Profile:
    return Profile(name="cluster", origin="hand-written", backend="nccl", device="cuda",
                   threads_per_process=1, nprocs=8, kernels=_kernels(), links=links)


# --------------------------------------------------------------------------------------------
# fit_linear
# --------------------------------------------------------------------------------------------


def test_fit_recovers_exact_line() -> None:
    fit = fit_linear(SIZES, [ALPHA + BETA * s for s in SIZES])
    assert fit.alpha == pytest.approx(ALPHA, rel=1e-9)
    assert fit.beta == pytest.approx(BETA, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.samples == len(SIZES)


def test_fit_of_noisy_data_is_close_and_explains_it() -> None:
    rng = np.random.default_rng(0)
    noise = 1.0 + 0.03 * rng.standard_normal(len(SIZES))  # 3 % timing noise
    fit = fit_linear(SIZES, [(ALPHA + BETA * s) * n for s, n in zip(SIZES, noise, strict=True)])
    assert fit.alpha == pytest.approx(ALPHA, rel=0.05)
    assert fit.beta == pytest.approx(BETA, rel=0.05)
    assert fit.r2 is not None and fit.r2 > 0.99


def test_small_sizes_set_alpha_despite_an_off_large_point() -> None:
    """Relative weighting: 10 % off on the largest message moves alpha by little, where an
    unweighted fit would move it by many times alpha."""
    times = [ALPHA + BETA * s for s in SIZES]
    times[-1] *= 1.10
    fit = fit_linear(SIZES, times)
    assert fit.alpha == pytest.approx(ALPHA, rel=0.02)
    unweighted = np.polyfit(SIZES, times, 1)[1]
    assert abs(unweighted - ALPHA) > 5 * abs(fit.alpha - ALPHA)


def test_fit_clamps_negative_slope_to_the_mean() -> None:
    fit = fit_linear([1.0, 2.0, 3.0], [3e-5, 2e-5, 1e-5])
    assert fit.beta == 0.0
    assert 1e-5 <= fit.alpha <= 3e-5


def test_fit_clamps_negative_intercept_through_origin() -> None:
    sizes = [1e3, 1e4, 1e5]
    fit = fit_linear(sizes, [1e-9 * s - 5e-7 for s in sizes])
    assert fit.alpha == 0.0
    assert fit.beta > 0.0


def test_fit_of_one_size() -> None:
    same = fit_linear([100.0, 100.0], [1e-3, 1e-3])
    assert same.alpha == 0.0 and same.beta == pytest.approx(1e-5)
    assert (same.r2, same.samples) == (1.0, 2)
    zero = fit_linear([0.0], [2e-6])
    assert (zero.alpha, zero.beta) == (2e-6, 0.0)


def test_fit_survives_a_zero_time() -> None:
    fit = fit_linear([1.0, 10.0, 100.0], [0.0, 1e-6, 1e-5])
    assert math.isfinite(fit.alpha) and math.isfinite(fit.beta) and fit.beta > 0


def test_absolute_beta_takes_the_rate_of_the_large_sizes() -> None:
    """Kernels: fast while in cache, ten times slower beyond; the rate must be the latter."""
    sizes = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
    times = [1e-6 + s * (1e-10 if s < 1e6 else 1e-9) for s in sizes]
    relative = fit_linear(sizes, times)
    absolute = fit_linear(sizes, times, absolute_beta=True)
    assert absolute.alpha == relative.alpha
    assert absolute.beta == pytest.approx(1e-9, rel=0.01)
    assert absolute.r2 is not None and absolute.r2 > 0.99
    assert relative.beta < 0.8e-9


@pytest.mark.parametrize("sizes,seconds,message", [
    ([1.0, 2.0], [1.0], "2 sizes but 1 times"),
    ([], [], "at least one"),
    ([1.0, -2.0], [1.0, 1.0], "non-negative"),
    ([1.0, 2.0], [1.0, float("nan")], "finite"),
])
def test_fit_refuses_bad_input(sizes: list[float], seconds: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_linear(sizes, seconds)


# --------------------------------------------------------------------------------------------
# Profile.collective: calibrated
# --------------------------------------------------------------------------------------------

TWO = LinearFit(1e-5, 1e-9, r2=0.99, samples=11)
FOUR = LinearFit(3e-5, 2e-9, r2=0.98, samples=11)


def test_measured_group_size_is_returned_as_is() -> None:
    profile = _calibrated({"all_reduce": {2: TWO, 4: FOUR}})
    assert profile.collective("all_reduce", 2) is TWO
    assert profile.collective("all_reduce", 4) is FOUR


def test_interpolates_between_measured_sizes() -> None:
    fit = _calibrated({"all_reduce": {2: TWO, 4: FOUR}}).collective("all_reduce", 3)
    assert fit.alpha == pytest.approx(2e-5)
    assert fit.beta == pytest.approx(1.5e-9)


def test_extrapolates_from_the_two_largest() -> None:
    fit = _calibrated({"all_reduce": {2: TWO, 4: FOUR}}).collective("all_reduce", 8)
    assert fit.alpha == pytest.approx(7e-5)  # 1e-5 + 3 x 2e-5
    assert fit.beta == pytest.approx(4e-9)


def test_extrapolation_never_falls_below_the_largest_measured() -> None:
    fit = _calibrated({"broadcast": {2: FOUR, 4: TWO}}).collective("broadcast", 16)
    assert (fit.alpha, fit.beta) == (TWO.alpha, TWO.beta)


def test_one_measured_size_answers_for_larger_groups() -> None:
    assert _calibrated({"all_to_all": {2: TWO}}).collective("all_to_all", 8) == TWO


def test_below_the_smallest_measured_size_uses_it() -> None:
    assert _calibrated({"all_gather": {4: FOUR, 8: TWO}}).collective("all_gather", 2) == FOUR


def test_unknown_and_unmeasured_collectives() -> None:
    profile = _calibrated({"all_reduce": {2: TWO}})
    with pytest.raises(ValueError, match="unknown collective"):
        profile.collective("gossip", 2)
    with pytest.raises(ProfileError, match="no measurement of broadcast.*pargnn calibrate"):
        profile.collective("broadcast", 2)
    with pytest.raises(ProfileError, match="no rate for the spmm kernel"):
        Profile(name="x", origin="calibrated", backend="gloo", device="cpu",
                threads_per_process=1, nprocs=2, kernels={}).kernel("spmm")


# --------------------------------------------------------------------------------------------
# Profile.collective: hand-written links
# --------------------------------------------------------------------------------------------

FAST = Link(alpha=1e-6, beta=1e-10, up_to=8)
SLOW = Link(alpha=1e-5, beta=1e-9)


def test_all_reduce_is_a_ring() -> None:
    fit = _hand_written(FAST, SLOW).collective("all_reduce", 4)
    assert fit.alpha == pytest.approx(2 * 3 * FAST.alpha)
    assert fit.beta == pytest.approx(2 * 3 / 4 * FAST.beta)


def test_broadcast_is_a_tree_and_all_gather_a_ring() -> None:
    profile = _hand_written(FAST, SLOW)
    assert profile.collective("broadcast", 8).alpha == pytest.approx(3 * FAST.alpha)
    assert profile.collective("broadcast", 8).beta == FAST.beta
    assert profile.collective("reduce", 5).alpha == pytest.approx(3 * FAST.alpha)
    assert profile.collective("all_gather", 4) == LinearFit(3 * FAST.alpha, FAST.beta)
    assert profile.collective("p2p", 2) == LinearFit(FAST.alpha, FAST.beta)


def test_link_is_chosen_by_group_size() -> None:
    profile = _hand_written(FAST, SLOW)
    assert profile.collective("p2p", 8) == LinearFit(FAST.alpha, FAST.beta)  # up_to inclusive
    beyond = profile.collective("all_reduce", 16)
    assert beyond.alpha == pytest.approx(2 * 15 * SLOW.alpha)
    assert beyond.beta == pytest.approx(2 * 15 / 16 * SLOW.beta)
    # No link without a bound: groups beyond the last bound use the last link.
    bounded = _hand_written(Link(1e-6, 1e-10, up_to=4), Link(1e-5, 1e-9, up_to=8))
    assert bounded.collective("p2p", 32) == LinearFit(1e-5, 1e-9)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _full_profile() -> Profile:
    return Profile(
        name="calibrated-host-gloo-P4", origin="calibrated", backend="gloo", device="cpu",
        threads_per_process=2, nprocs=4, kernels=_kernels(),
        collectives={op: {2: TWO, 4: FOUR} for op in COLLECTIVES if op != "p2p"}
        | {"p2p": {2: TWO}},
        links=(FAST, SLOW), memory_bytes=8 << 30,
        machine={"hostname": "host", "cpu_count": 8}, sources=("pargnn calibrate",))


def test_dict_round_trip_through_json() -> None:
    profile = _full_profile()
    data = json.loads(json.dumps(profile.to_dict()))
    assert set(data["collectives"]["all_reduce"]) == {"2", "4"}
    assert Profile.from_dict(data) == profile


def test_save_is_atomic_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "machine.json"
    profile = _full_profile()
    save_profile(profile, path)
    assert [p.name for p in tmp_path.iterdir()] == ["machine.json"]  # no temp file left
    assert load_profile(str(path)) == profile


def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "machine.json"
    save_profile(_full_profile(), path)
    before = path.read_text()
    broken = _calibrated({"all_reduce": {2: TWO}})
    broken.machine["not json"] = object()
    with pytest.raises(TypeError):
        save_profile(broken, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["machine.json"]


def test_missing_file_is_refused_with_the_ways_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"no profile .*pargnn calibrate --out FILE"):
        load_profile(str(tmp_path / "absent.json"))


def test_non_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("alpha = 3\n")
    with pytest.raises(ProfileError, match="is not JSON"):
        load_profile(str(path))


@pytest.mark.parametrize("payload", [
    {"name": "x"},
    [1, 2, 3],
    {**_full_profile().to_dict(), "kernels": {"spmm": {"alpha": 1.0, "speed": 2.0}}},
])
def test_wrong_shape_is_refused(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ProfileError, match="not a pargnn profile"):
        load_profile(str(path))


def test_incomplete_profiles_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "partial.json"
    data = _full_profile().to_dict()
    del data["kernels"]["gemm"]
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="lacks kernel rates for gemm"):
        load_profile(str(path))
    data = _full_profile().to_dict()
    data["collectives"], data["links"] = {}, []
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="neither links nor measured collectives"):
        load_profile(str(path))


def test_kernel_points_are_interpolated_log_log_and_survive_json(tmp_path: Path) -> None:
    fit = LinearFit(1e-6, 1e-9, points=[(1e6, 1e-3), (1e3, 1e-5)])  # unsorted, as lists
    assert fit.points == ((1e3, 1e-5), (1e6, 1e-3))
    assert fit.call_seconds(1e3, calls=3) == pytest.approx(3e-5)
    assert fit.call_seconds(10 ** 4.5) == pytest.approx(1e-4)  # halfway in log-log
    assert fit.call_seconds(10.0) == pytest.approx(1e-5)  # the smallest call's time below
    assert fit.call_seconds(2e6) == pytest.approx(2e-3)  # proportional above
    assert LinearFit(1e-6, 1e-9).call_seconds(1e3, calls=2) == pytest.approx(2e-6 + 2e-6)
    profile = load_profile("local-default")
    measured = dataclasses.replace(profile, kernels={**profile.kernels, "spmm": fit})
    path = tmp_path / "p.json"
    save_profile(measured, path)
    assert load_profile(str(path)).kernel("spmm") == fit
