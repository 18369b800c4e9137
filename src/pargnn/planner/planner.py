"""The planner: every way to run a model on P processes, predicted, sorted and chosen.

For each candidate (algorithm, grid, replication, partitioner) valid for ``P``:

1. **messages and bytes** per rank come from the family's exact model
   (:mod:`pargnn.algorithms.exact`), the same counts the test suite holds equal to the
   communication log, call by call, with each call's collective and group size;
2. **communication seconds** price every call with the profile's fit for that collective
   and group size (``calls x alpha + bytes x beta``);
3. **compute seconds** price the rank's kernels (:mod:`pargnn.cost.compute`); with a
   calibrated CPU profile its sparse products are timed here on its own blocks instead
   (:mod:`pargnn.cost.sparse_timing`), each rank's blocks given by its family;
4. **memory** is the rank's predicted training state (:mod:`pargnn.cost.memory`).

A rank's epoch is its compute plus its communication; the epoch of the run is that of the
slowest rank (every step ends in collectives that wait for it). The candidates are sorted by
predicted epoch time; those whose memory exceeds the profile's per-process memory are marked
and never chosen.
How a profile prices the counts is :mod:`pargnn.planner.pace`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.registry import family_of, layouts
from pargnn.cost.compute import Work, epoch_work, sparse_products
from pargnn.cost.memory import Memory, rank_memory
from pargnn.cost.problem import PartHalos, PartitionSource, Problem
from pargnn.cost.sparse_timing import RankBlocks, time_ranks
from pargnn.cost.traffic import Traffic, selected_ranks
from pargnn.graph.partition import PARTITIONERS
from pargnn.layout.spec import GridSpec
from pargnn.planner.pace import (
    calibration_pace,
    comm_seconds,
    compute_seconds,
    shared_pace,
    sparse_factor,
)
from pargnn.planner.profile import Profile


@dataclass(frozen=True)
class Candidate:
    """One way to lay out the run: a grid of a family, and a partitioner where the family
    cuts the graph with one."""

    spec: GridSpec
    partition: str | None = None

    @property
    def algorithm(self) -> str:
        return self.spec.algorithm

    @property
    def family(self) -> AlgorithmFamily:
        return family_of(self.spec.algorithm)

    @property
    def label(self) -> str:
        chosen = self.family.shapes.settings(self.spec)
        text = self.algorithm
        text += f" {chosen['grid']}" if chosen["grid"] else ""
        text += f" c={chosen['replication']}" if chosen["replication"] else ""
        return text + (f" {self.partition}" if self.partition else "")

    def settings(self) -> dict[str, object]:
        """The ``TrainConfig`` fields that select this candidate."""
        return {"algo": self.algorithm, **self.family.shapes.settings(self.spec),
                "partition": self.partition}

    def halos(self, problem: Problem, partitions: PartitionSource) -> PartHalos | None:
        """The candidate's partition as its models see it (``None``: not available)."""
        parts = self.family.parts
        if parts is None or self.partition is None:
            return None
        return problem.part_halos(parts(self.spec), self.partition, partitions)


def candidates(nprocs: int, partitioners: tuple[str, ...] = PARTITIONERS) -> list[Candidate]:
    """Every layout every family offers for ``nprocs``, with each partitioner for the
    families that partition the graph."""
    out = []
    for spec in layouts(nprocs):
        if family_of(spec.algorithm).partitioned:
            out += [Candidate(spec, method) for method in partitioners]
        else:
            out.append(Candidate(spec))
    return out


@dataclass(frozen=True)
class RankCost:
    traffic: Traffic
    work: Work
    memory: Memory
    comm_seconds: float
    compute_seconds: float

    @property
    def seconds(self) -> float:
        return self.comm_seconds + self.compute_seconds


@dataclass(frozen=True)
class Prediction:
    """A candidate's predicted epoch (training step), per rank and for the run.

    ``ranks`` are those predicted: every rank, unless the plan was asked for a few (a
    statistics-only plan predicts one representative, see :mod:`pargnn.planner.statistics`).
    """

    candidate: Candidate
    ranks: list[RankCost]
    memory_limit: int | None
    sparse_factor: float = 1.0

    @property
    def epoch_seconds(self) -> float:
        return max(r.seconds for r in self.ranks)

    @property
    def comm_seconds(self) -> float:
        return max(r.comm_seconds for r in self.ranks)

    @property
    def compute_seconds(self) -> float:
        return max(r.compute_seconds for r in self.ranks)

    @property
    def messages(self) -> int:
        return max(r.traffic.total_calls for r in self.ranks)

    @property
    def bytes(self) -> int:
        return max(r.traffic.total_bytes for r in self.ranks)

    @property
    def memory_bytes(self) -> int:
        return max(r.memory.total for r in self.ranks)

    @property
    def fits(self) -> bool:
        return self.memory_limit is None or self.memory_bytes <= self.memory_limit

    def as_dict(self) -> dict[str, object]:
        return {"label": self.candidate.label, **self.candidate.settings(),
                "epoch_seconds": self.epoch_seconds, "comm_seconds": self.comm_seconds,
                "compute_seconds": self.compute_seconds, "messages": self.messages,
                "bytes": self.bytes, "memory_bytes": self.memory_bytes, "fits": self.fits,
                "sparse_factor": self.sparse_factor,
                "bytes_per_rank": [r.traffic.total_bytes for r in self.ranks],
                "memory_per_rank": [r.memory.total for r in self.ranks]}


SparseTimes = Callable[["Candidate"], "Sequence[float] | None"]


def measured_sparse(problem: Problem, partitions: PartitionSource, profile: Profile
                    ) -> SparseTimes:
    """Per candidate, the seconds of each rank's sparse products of one step, timed here on
    one process with the profile's threads (see :mod:`pargnn.cost.sparse_timing`); ``None``
    for a candidate whose partition is not available. For calibrated CPU profiles, on the
    machine they describe."""

    def times(candidate: Candidate) -> Sequence[float] | None:
        blocks = rank_blocks(problem, candidate, partitions)
        if blocks is None:
            return None
        products = [sparse_products(problem.layers, b.forward, b.backward, b.columns)
                    for b in blocks]
        return time_ranks(products, [b.scale for b in blocks], profile.threads_per_process)

    return times


def rank_blocks(problem: Problem, candidate: Candidate, partitions: PartitionSource
                ) -> list[RankBlocks] | None:
    """Every rank's sparse blocks as training builds them for ``candidate`` (rows sampled
    to :data:`~pargnn.cost.sparse_timing.SAMPLE_NNZ` non-zeros in all), or ``None`` when
    its partition is not available."""
    partition = None
    parts = candidate.family.parts
    if parts is not None and candidate.partition is not None:
        partition = partitions(parts(candidate.spec), candidate.partition)
        if partition is None:
            return None
    return candidate.family.costs.rank_blocks(problem, candidate.spec, partition)


def predict(problem: Problem, candidate: Candidate, profile: Profile,
            partitions: PartitionSource, ranks: Sequence[int] | None = None,
            sparse_seconds: Sequence[float] | None = None) -> Prediction | None:
    """The candidate's prediction, or ``None`` when its partition is not available.

    ``ranks`` limits the prediction to those ranks (default: all); the run's epoch is then the
    slowest of them, which is the run's when they include its busiest rank.
    ``sparse_seconds``: every rank's sparse products timed here (:func:`measured_sparse`),
    which replace the profile's SpMM fit for them; without it the fit prices them.
    """
    spec, family = candidate.spec, candidate.family
    chosen = selected_ranks(spec, ranks)
    halos = candidate.halos(problem, partitions)
    if family.partitioned and halos is None:
        return None
    traffic = family.costs.traffic(problem, spec, halos, chosen, problem.training)
    shapes = family.costs.rank_shapes(problem, spec, halos, chosen)
    works, factors, alone = [], [], []
    pace_of_fits = calibration_pace(profile)
    for rank, (shape, _, _) in zip(chosen, shapes, strict=True):
        works.append(epoch_work(shape, problem.layers, problem.classes, problem.dropout,
                                problem.parameters, problem.training))
        factors.append(1.0 if sparse_seconds is None
                       else sparse_factor(sparse_seconds[rank], shape, problem.layers, profile))
        alone.append(compute_seconds(works[-1], profile, 1 / pace_of_fits, factors[-1]))
    pace = shared_pace(profile, spec.size, alone if len(chosen) == spec.size else None)
    costs = []
    for t, work, seconds, (shape, stored, buffers) in zip(traffic, works, alone, shapes,
                                                         strict=True):
        memory = rank_memory(shape, stored, problem.features, problem.layers,
                             problem.parameters, problem.value_bytes, problem.dropout, buffers)
        costs.append(RankCost(t, work, memory, comm_seconds(t, profile), pace * seconds))
    busiest = max(range(len(costs)), key=lambda k: costs[k].seconds)
    return Prediction(candidate, costs, profile.memory_bytes, factors[busiest])


@dataclass
class Plan:
    """Predictions sorted by epoch time, the choice, and why."""

    nprocs: int
    profile: Profile
    predictions: list[Prediction]
    skipped: list[tuple[Candidate, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def choice(self) -> Prediction | None:
        return next((p for p in self.predictions if p.fits), None)

    def explanation(self) -> str:
        best = self.choice
        if best is None:
            limit = (self.profile.memory_bytes or 0) / 2**30
            return (f"No layout fits in {limit:.1f} GiB per process; use more processes or a "
                    "smaller model.")
        others = [p for p in self.predictions if p is not best and p.fits]
        if not others:
            return f"{best.candidate.label} is the only layout that fits."
        runner = others[0]
        share = best.comm_seconds / best.epoch_seconds if best.epoch_seconds else 0.0
        unfit = sum(not p.fits for p in self.predictions)
        return (f"{best.candidate.label} is predicted fastest at "
                f"{best.epoch_seconds * 1e3:.1f} ms per epoch ({share:.0%} communication), "
                f"{runner.epoch_seconds / best.epoch_seconds:.2f}x ahead of "
                f"{runner.candidate.label}: {_why_faster(best, runner)}."
                + (f" {unfit} layout(s) do not fit in memory." if unfit else ""))

    def as_dict(self) -> dict[str, object]:
        best = self.choice
        return {"nprocs": self.nprocs, "profile": self.profile.name,
                "choice": best.as_dict() if best else None,
                "explanation": self.explanation(),
                "predictions": [p.as_dict() for p in self.predictions],
                "skipped": [{"label": c.label, "why": why} for c, why in self.skipped],
                "seconds": self.seconds}


def _why_faster(best: Prediction, runner: Prediction) -> str:
    """The term of the epoch that separates the two most: communication or compute."""
    comm = runner.comm_seconds - best.comm_seconds
    compute = runner.compute_seconds - best.compute_seconds
    if comm >= compute:
        return (f"it spends {comm * 1e3:.1f} ms less in collectives ({best.messages} calls "
                f"moving {best.bytes / 1e6:.2f} MB from its busiest rank, against "
                f"{runner.messages} calls and {runner.bytes / 1e6:.2f} MB)")
    text = f"it computes {compute * 1e3:.1f} ms less on its busiest rank"
    if best.sparse_factor < 0.9 * runner.sparse_factor:
        ratio = runner.sparse_factor / best.sparse_factor
        text += f", because SpMM on its blocks runs {ratio:.1f}x faster per non-zero here"
    return text


RankChoice = Callable[[GridSpec], Sequence[int]]


def make_plan(problem: Problem, nprocs: int, profile: Profile, partitions: PartitionSource,
              allowed: Callable[[Candidate], bool] | None = None,
              ranks: RankChoice | None = None, sparse: SparseTimes | None = None) -> Plan:
    """Predict every candidate for ``nprocs`` and sort them by epoch time (``ranks``: the
    ranks to predict of each candidate's grid, default all; ``sparse``: the sparse products
    timed here, default none: the profile's fit; see :func:`predict`)."""
    start = time.perf_counter()
    predictions, skipped = [], []
    for candidate in candidates(nprocs):
        if allowed is not None and not allowed(candidate):
            continue
        if candidate.spec.size > problem.n:
            skipped.append((candidate, "more processes than vertices"))
            continue
        chosen = None if ranks is None else ranks(candidate.spec)
        prediction = predict(problem, candidate, profile, partitions, chosen,
                             None if sparse is None else sparse(candidate))
        if prediction is None:
            skipped.append((candidate, "partition not computed (too large for a quick plan; "
                                       "pass --partition-cache DIR to compute and keep it)"))
            continue
        predictions.append(prediction)
    predictions.sort(key=lambda p: p.epoch_seconds)
    return Plan(nprocs, profile, predictions, skipped, time.perf_counter() - start)
