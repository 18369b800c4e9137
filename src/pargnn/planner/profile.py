"""A machine profile: what one message, one byte and one unit of local work cost.

The planner turns the exact counts of :mod:`pargnn.algorithms.exact` (messages and bytes per
collective, per group size) and of :mod:`pargnn.cost.compute` (kernel calls and their sizes)
into seconds with a profile. A profile comes from one of two places:

* **calibration** (``pargnn calibrate``, :mod:`pargnn.planner.calibrate`): every collective is
  timed on this machine, with this backend, over a range of message sizes for each group size,
  and ``seconds = alpha + beta x bytes`` is fitted per (collective, group size); the local
  kernels are timed the same way with the threads per process that training will use, while
  all the processes of the run compute at once (so that a machine with fewer cores than
  processes is measured as it will be used);
* **a hand-written file** for a cluster that is not here: the latency and inverse bandwidth of
  its links (``links``), from which each collective's cost follows from the textbook algorithm
  it uses (ring all-reduce, tree broadcast, ...), plus kernel rates. ``profiles/`` ships two
  clusters and ``local-default``, the documented guess used when no profile is given.

Bytes follow the counting convention of :mod:`pargnn.dist.comm` (a broadcast counts its tensor,
an all-gather what a member receives, an all-to-all what it sends), so the fitted ``beta`` of
each collective already absorbs how its bytes relate to what travels.

Units of the kernels: ``spmm`` and ``sddmm`` per non-zero x feature column, ``gemm`` per
multiply-add (``m k n``), ``elementwise`` per element touched, ``dropout`` (pargnn's keyed
dropout: a hash per element) per element masked.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pargnn.errors import PargnnError

COLLECTIVES = ("broadcast", "reduce", "all_reduce", "all_gather", "reduce_scatter",
               "all_to_all", "p2p")
KERNELS = ("spmm", "sddmm", "gemm", "elementwise", "dropout")
BUILT_IN = ("local-default", "cpu-cluster-ethernet", "gpu-cluster-infiniband")
DEFAULT_PROFILE = "local-default"


class ProfileError(PargnnError):
    """A profile file that cannot be read or used."""


@dataclass(frozen=True)
class LinearFit:
    """``seconds = alpha + beta x size``, fitted over ``samples`` measurements (``r2``: the
    coefficient of determination of the fit; ``None`` for hand-written values).

    A calibrated kernel also keeps its measured ``points`` (size of one call, median seconds
    of one call), because a kernel's rate is not one number: a block that fits in cache runs
    several times faster per unit than one that streams from memory, and a temporary above
    the allocator's mapping threshold (32 MB in glibc) is page-faulted in on every call.
    :meth:`call_seconds` interpolates between them.
    """

    alpha: float
    beta: float
    r2: float | None = None
    samples: int = 0
    points: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:  # JSON gives lists; keep them hashable and sorted
        object.__setattr__(self, "points", tuple(sorted((float(s), float(t))
                                                        for s, t in self.points)))

    def seconds(self, size: float, calls: int = 1) -> float:
        """Time of ``calls`` calls moving ``size`` units in total."""
        return calls * self.alpha + self.beta * size

    def call_seconds(self, size: float, calls: int = 1) -> float:
        """Time of ``calls`` calls of ``size`` units each: interpolated log-log between the
        measured points, the smallest point's time below them, proportional to size above
        them; the fit where there are no points."""
        if not self.points:
            return self.seconds(size * calls, calls)
        sizes, times = zip(*self.points, strict=True)
        if size <= sizes[0]:
            return calls * times[0]
        if size >= sizes[-1]:
            return calls * times[-1] * size / sizes[-1]
        t = np.interp(math.log(size), np.log(sizes), np.log(times))
        return calls * float(math.exp(t))


@dataclass(frozen=True)
class Link:
    """One level of a hand-written network: groups of up to ``up_to`` processes (``None``:
    any size) communicate with latency ``alpha`` seconds and ``beta`` seconds per byte."""

    alpha: float
    beta: float
    up_to: int | None = None


def _analytic(op: str, group: int, link: Link) -> LinearFit:
    """The cost of ``op`` over ``group`` processes by the algorithm a library uses for it
    (bytes in the counting convention of :mod:`pargnn.dist.comm`)."""
    steps = max(group - 1, 1)
    if op in ("broadcast", "reduce"):  # pipelined tree: log P hops, bandwidth term once
        return LinearFit(math.ceil(math.log2(max(group, 2))) * link.alpha, link.beta)
    if op == "all_reduce":  # ring: reduce-scatter then all-gather of the tensor
        return LinearFit(2 * steps * link.alpha, 2 * steps / max(group, 2) * link.beta)
    if op in ("all_gather", "reduce_scatter", "all_to_all"):  # counted bytes cross once
        return LinearFit(steps * link.alpha, link.beta)
    return LinearFit(link.alpha, link.beta)  # p2p


@dataclass(frozen=True)
class Profile:
    """Costs of communication and local work on one machine or cluster.

    ``collectives[op][g]`` is a measured fit for a group of ``g`` processes; a profile with
    ``links`` (hand-written) derives every ``(op, g)`` from them instead. ``memory_bytes`` is
    what one process may use (device memory on GPUs, RAM / processes on CPUs).
    ``sync_seconds`` is what a collective call costs inside a training step beyond its fit
    (waiting for the last rank to arrive, being woken and scheduled again, imbalance that
    adds up phase by phase); ``all_to_all_sync_seconds`` what an all-to-all call over all
    ``nprocs`` processes costs beyond that (a smaller group pays its share per peer);
    ``reduce_scatter_sync_seconds`` what a reduce-scatter call costs beyond it.
    ``pargnn calibrate`` measures the three on reference training steps
    (:mod:`pargnn.planner.reference`). ``kernel_concurrency`` is how many times slower a sparse
    product ran with all ``nprocs`` processes computing at once than on one process alone
    (calibrated CPU profiles; ``None``: assume ``max(1, nprocs threads / cores)``).
    """

    name: str
    origin: str  # "calibrated" or "hand-written"
    backend: str
    device: str
    threads_per_process: int
    nprocs: int  # processes computing at once when the kernels were timed
    kernels: dict[str, LinearFit]
    collectives: dict[str, dict[int, LinearFit]] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    sync_seconds: float = 0.0  # per collective call, beyond its latency (calibrated only)
    all_to_all_sync_seconds: float = 0.0  # per all-to-all over nprocs, beyond sync_seconds
    reduce_scatter_sync_seconds: float = 0.0  # per reduce-scatter, beyond sync_seconds
    # calibrated CPU: how much slower SpMM ran with all nprocs processes at once than alone
    kernel_concurrency: float | None = None
    memory_bytes: int | None = None
    machine: dict[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def collective(self, op: str, group: int) -> LinearFit:
        """The fit for ``op`` over ``group`` processes.

        Calibrated profiles interpolate ``alpha`` and ``beta`` linearly in the group size
        between the sizes measured, and extrapolate from the two largest (never below the
        largest's values); hand-written ones use their links.
        """
        if op not in COLLECTIVES:
            raise ValueError(f"unknown collective {op!r}")
        if self.links:
            link = next((lk for lk in self.links if lk.up_to is None or group <= lk.up_to),
                        self.links[-1])
            return _analytic(op, group, link)
        fits = self.collectives.get(op)
        if not fits:
            raise ProfileError(f"profile {self.name!r} has no measurement of {op}; "
                               "run `pargnn calibrate` again")
        if group in fits:
            return fits[group]
        sizes = sorted(fits)
        below = [g for g in sizes if g < group]
        above = [g for g in sizes if g > group]
        if below and above:
            lo, hi = below[-1], above[0]
        elif below:  # extrapolate upwards from the two largest
            if len(below) == 1:
                return fits[below[-1]]
            lo, hi = below[-2], below[-1]
        else:
            return fits[above[0]]
        t = (group - lo) / (hi - lo)
        a = fits[lo].alpha + t * (fits[hi].alpha - fits[lo].alpha)
        b = fits[lo].beta + t * (fits[hi].beta - fits[lo].beta)
        floor = fits[hi] if group > hi else LinearFit(0.0, 0.0)
        return LinearFit(max(a, floor.alpha), max(b, floor.beta))

    def kernel(self, name: str) -> LinearFit:
        if name not in self.kernels:
            raise ProfileError(f"profile {self.name!r} has no rate for the {name} kernel")
        return self.kernels[name]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["collectives"] = {op: {str(g): asdict(f) for g, f in sorted(fits.items())}
                              for op, fits in self.collectives.items()}
        out["links"] = [asdict(lk) for lk in self.links]
        out["sources"] = list(self.sources)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        try:
            return cls(
                name=str(data["name"]), origin=str(data["origin"]),
                backend=str(data["backend"]), device=str(data["device"]),
                threads_per_process=int(data["threads_per_process"]),
                nprocs=int(data["nprocs"]),
                kernels={k: LinearFit(**v) for k, v in data["kernels"].items()},
                collectives={op: {int(g): LinearFit(**f) for g, f in fits.items()}
                             for op, fits in data.get("collectives", {}).items()},
                links=tuple(Link(**lk) for lk in data.get("links", [])),
                sync_seconds=float(data.get("sync_seconds", 0.0)),
                all_to_all_sync_seconds=float(data.get("all_to_all_sync_seconds", 0.0)),
                reduce_scatter_sync_seconds=float(data.get("reduce_scatter_sync_seconds",
                                                           0.0)),
                kernel_concurrency=(None if data.get("kernel_concurrency") is None
                                    else float(data["kernel_concurrency"])),
                memory_bytes=(None if data.get("memory_bytes") is None
                              else int(data["memory_bytes"])),
                machine=dict(data.get("machine", {})),
                sources=tuple(data.get("sources", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"not a pargnn profile: {exc!r} (write one with "
                               "`pargnn calibrate --out FILE`, or start from the files in "
                               "pargnn/planner/profiles/)") from None

    def validate(self) -> None:
        missing = [k for k in KERNELS if k not in self.kernels]
        if missing:
            raise ProfileError(f"profile {self.name!r} lacks kernel rates for "
                               f"{', '.join(missing)}")
        if not self.links and not self.collectives:
            raise ProfileError(f"profile {self.name!r} has neither links nor measured "
                               "collectives")


def load_profile(name_or_path: str | None) -> Profile:
    """A built-in profile by name (``None``: the default), or a profile file."""
    name = name_or_path or DEFAULT_PROFILE
    if name in BUILT_IN:
        text = (resources.files("pargnn.planner") / "profiles" / f"{name}.json").read_text()
    else:
        path = Path(name)
        if not path.is_file():
            raise ProfileError(
                f"no profile {name!r}: give a file written by `pargnn calibrate --out FILE`, "
                f"or one of the built-in profiles: {', '.join(BUILT_IN)}")
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile {name!r} is not JSON: {exc}") from None
    profile = Profile.from_dict(data)
    profile.validate()
    return profile


def save_profile(profile: Profile, path: str | Path) -> None:
    """Write ``profile`` as JSON, atomically (no partial file on failure)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=".profile-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(profile.to_dict(), handle, indent=1)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
