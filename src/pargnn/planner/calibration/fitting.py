"""The lines of a profile, fitted to the points that calibration measured.

Why: each measured point is a (size, seconds) pair, and the planner wants one line per
(collective, group size) and per kernel, ``seconds = alpha x calls + beta x size``
(:class:`~pargnn.planner.profile.LinearFit`). How a line is fitted decides which points set
which term, a question of its own, apart from how the points are timed.

Each line is fitted by :func:`fit_linear`: least squares weighted by ``1 / seconds^2``, i.e.
on the relative error, so that the small messages determine ``alpha`` and the large ones
``beta``, instead of the largest message deciding both. A kernel's ``beta`` is then refitted
on the absolute error (``absolute_beta``): a kernel's rate falls several times once its
operands leave the caches, and it is the large, out-of-cache calls that make a run's time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from pargnn.planner.profile import LinearFit

__all__ = ["fit_linear", "fit_points", "kernel_fit"]


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


def fit_points(points: list[tuple[float, float]], absolute_beta: bool = False) -> LinearFit:
    """:func:`fit_linear` of ``(size, seconds)`` points."""
    return fit_linear([s for s, _ in points], [t for _, t in points],
                      absolute_beta=absolute_beta)


def kernel_fit(points: list[tuple[float, float]]) -> LinearFit:
    """The kernel's line and its measured points: the median time per call of each size
    (:meth:`~pargnn.planner.profile.LinearFit.call_seconds` interpolates between them)."""
    by_size: dict[float, list[float]] = {}
    for size, seconds in points:
        by_size.setdefault(size, []).append(seconds)
    medians = tuple((size, float(np.median(times))) for size, times in sorted(by_size.items()))
    return dataclasses.replace(fit_points(points, absolute_beta=True), points=medians)
