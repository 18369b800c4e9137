"""The planner: every way to run a model on P processes, predicted, sorted and chosen.

For each candidate (algorithm, grid, replication, partitioner) valid for ``P``:

1. **messages and bytes** per rank come from the exact model (:mod:`pargnn.cost.exact`), the
   same counts the test suite holds equal to the communication log, call by call, with each
   call's collective and group size;
2. **communication seconds** price every call with the profile's fit for that collective
   and group size (``calls x alpha + bytes x beta``);
3. **compute seconds** price the rank's kernels (:mod:`pargnn.cost.compute`); with a
   calibrated CPU profile its sparse products are timed here on its own blocks instead
   (:mod:`pargnn.cost.sparse_timing`);
4. **memory** is the rank's predicted training state (:mod:`pargnn.cost.memory`).

A rank's epoch is its compute plus its communication; the epoch of the run is that of the
slowest rank (every step ends in collectives that wait for it). The candidates are sorted by
predicted epoch time; those whose memory exceeds the profile's per-process memory are marked
and never chosen.

A calibrated CPU profile was measured with ``profile.nprocs`` processes sharing the machine's
cores. Its kernel times are brought back to one process alone (divided by that
oversubscription, ``max(1, P t / cores)``), then slowed by the pace of ``P`` processes
sharing the cores (:func:`shared_pace`: uneven work runs at the busiest rank's pace);
collectives keep their fits per group size. Hand-written (cluster) profiles give each
process its own cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from pargnn.cost.compute import LocalShape, Work, epoch_work, full_width, sparse_products
from pargnn.cost.exact import (
    INDEX_BYTES,
    BlockCounter,
    BlockIndex,
    Op,
    Traffic,
    grid_place,
    grid_rank,
    matrix_of,
    model_ops,
    predict_epoch,
    replicated_rank,
    selected_ranks,
    team_place,
)
from pargnn.cost.memory import Buffers, Memory, csr_bytes, rank_memory
from pargnn.cost.profile import Profile
from pargnn.cost.sparse_timing import (
    RankBlocks,
    compact_blocks,
    grid_blocks,
    stride_for,
    time_ranks,
)
from pargnn.dist.grid import (
    GridSpec,
    plan_grid,
    shapes_2d,
    shapes_3d,
    valid_replications,
)
from pargnn.graph.graph import Graph
from pargnn.graph.normalize import normalize_adjacency
from pargnn.graph.partition import PARTITIONERS, Partition, part_matrices
from pargnn.nn.models import MODELS
from pargnn.spmm.layout import GridLayout, balanced_offsets
from pargnn.training.config import TrainConfig
from pargnn.training.setup import build_model_for

VALUE_BYTES = {"float32": 4, "float64": 8}
PATTERNS = {"gcn": "loops", "loops": "loops", "mean": "sum", "sum": "sum"}


@dataclass(frozen=True)
class Candidate:
    """One way to lay out the run."""

    spec: GridSpec
    partition: str | None = None

    @property
    def algorithm(self) -> str:
        return self.spec.algorithm

    @property
    def label(self) -> str:
        algo, shape = self.spec.algorithm, self.spec.shape
        text = algo
        if algo in ("2d", "3d"):
            text += " " + "x".join(str(s) for s in shape[: 2 if algo == "2d" else 3])
        elif algo in ("1.5d", "sa1.5d"):
            text += f" c={shape[1]}"
        return text + (f" {self.partition}" if self.partition else "")

    def settings(self) -> dict[str, object]:
        """The ``TrainConfig`` fields that select this candidate."""
        algo, shape = self.spec.algorithm, self.spec.shape
        grid = None
        if algo == "2d":
            grid = f"{shape[0]}x{shape[1]}"
        elif algo == "3d":
            grid = "x".join(str(s) for s in shape)
        replication = shape[1] if algo in ("1.5d", "sa1.5d") else None
        return {"algo": algo, "grid": grid, "replication": replication,
                "partition": self.partition}


def candidates(nprocs: int, partitioners: tuple[str, ...] = PARTITIONERS) -> list[Candidate]:
    """Every layout valid for ``nprocs``: 1D; 1.5D for each ``c > 1``; every 2D grid with
    more than one column (``P x 1`` is 1D); every 3D grid with at least two layers; the
    sparsity-aware algorithms with each partitioner."""
    if nprocs == 1:
        return [Candidate(plan_grid("1d", 1))]
    out = [Candidate(plan_grid("1d", nprocs))]
    replications = [c for c in valid_replications(nprocs) if c > 1]
    out += [Candidate(plan_grid("1.5d", nprocs, replication=c)) for c in replications]
    out += [Candidate(plan_grid("2d", nprocs, f"{r}x{c}")) for r, c in shapes_2d(nprocs)
            if c > 1]
    out += [Candidate(plan_grid("3d", nprocs, "x".join(map(str, s))))
            for s in shapes_3d(nprocs) if s[2] >= 2]
    out += [Candidate(plan_grid("sa1d", nprocs), method) for method in partitioners]
    out += [Candidate(plan_grid("sa1.5d", nprocs, replication=c), method)
            for c in replications for method in partitioners]
    return out


PartitionSource = Callable[[int, str], Partition | None]


class PartHalos(NamedTuple):
    """A partition as the sparsity-aware model sees it: part offsets, halo counts ``need``
    and block non-zeros ``nnz`` (see :func:`~pargnn.graph.partition.part_matrices`)."""

    offsets: np.ndarray
    need: np.ndarray
    nnz: np.ndarray


def model_steps(config: TrainConfig, features: int, classes: int) -> tuple[list[list[Op]], int]:
    """The configured model's communicating steps per layer, and its parameter count."""
    model = build_model_for(config, features, classes)
    return model_ops(list(model.layers())), sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class Problem:
    """The graph and model as training prepares them (input order), once per plan; the
    block counts of ``A^T`` and ``A`` are shared by every candidate (a
    :class:`~pargnn.cost.exact.BlockIndex` of the matrix, or an estimate such as
    :class:`~pargnn.cost.statistics.UniformBlocks`)."""

    n: int
    at: BlockCounter
    a: BlockCounter
    features: int
    classes: int
    layers: list[list[Op]]
    parameters: int
    value_bytes: int
    dropout: bool

    @property
    def nnz(self) -> int:
        return self.a.nnz

    @classmethod
    def from_graph(cls, graph: Graph, config: TrainConfig) -> Problem:
        # only the non-zero pattern matters to the counts: A + I for GCN and GAT, A otherwise
        kind = PATTERNS[MODELS[config.model].normalization]
        a = normalize_adjacency(graph.adjacency(), kind)
        at = sp.csr_array(a.T)
        at.sort_indices()
        layers, parameters = model_steps(config, graph.num_features, graph.num_classes)
        return cls(graph.num_nodes, BlockIndex(at), BlockIndex(a), graph.num_features,
                   graph.num_classes, layers, parameters, VALUE_BYTES[config.dtype],
                   config.dropout > 0)

    def part_halos(self, parts: int, method: str, partitions: PartitionSource
                   ) -> PartHalos | None:
        """``method``'s partition into ``parts`` from ``partitions``, counted on the graph,
        or ``None`` when it is not available."""
        partition = partitions(parts, method)
        if partition is None:
            return None
        need, nnz = self.part_matrices(partition)
        return PartHalos(partition.offsets, need, nnz)

    def part_matrices(self, partition: Partition) -> tuple[np.ndarray, np.ndarray]:
        """The partition's halo counts and block non-zeros (see
        :func:`~pargnn.graph.partition.part_matrices`), without reordering the graph."""
        part_of = np.empty(self.n, dtype=np.int64)
        part_of[partition.order] = np.repeat(np.arange(partition.parts), partition.sizes())
        return part_matrices(matrix_of(self.at), part_of, partition.parts)


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
    statistics-only plan predicts one representative, see :mod:`pargnn.cost.statistics`).
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


def comm_seconds(traffic: Traffic, profile: Profile) -> float:
    """Every call priced by its collective's fit, plus the profile's sync term per call
    and the extra term of an all-to-all (per peer, :func:`all_to_all_sync`) or a
    reduce-scatter (see :mod:`pargnn.cost.reference`)."""
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


SPARSE_KERNELS = ("spmm", "sddmm")


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
    spec = candidate.spec
    at, a = matrix_of(problem.at), matrix_of(problem.a)
    if candidate.partition is not None:
        c = spec.shape[1] if spec.algorithm == "sa1.5d" else 1
        partition = partitions(spec.size // c, candidate.partition)
        if partition is None:
            return None
        order, offsets = partition.order, partition.offsets
        position = np.empty(problem.n, dtype=np.int64)
        position[order] = np.arange(problem.n)
        stage_offsets = balanced_offsets(spec.size // c, c)
        stride = stride_for(problem.nnz)  # every non-zero is one rank's
        out = []
        for rank in range(spec.size):
            i, r = divmod(rank, c)
            stages = (int(offsets[stage_offsets[r]]), int(offsets[stage_offsets[r + 1]]))
            out.append(compact_blocks(at, order, position,
                                      (int(offsets[i]), int(offsets[i + 1])), stages, stride,
                                      full_width))
        return out
    if spec.algorithm == "1.5d":
        teams, c = spec.shape
        bounds = balanced_offsets(problem.n, teams)
        stride = stride_for(problem.nnz)  # each team member: its stages' columns
        out = []
        for rank in range(spec.size):
            team = team_place(spec, problem.n, rank, problem.value_bytes)
            ranges = [(int(bounds[s]), int(bounds[s + 1])) for s in team.stages()]
            rows = (int(bounds[team.i]), int(bounds[team.i + 1]))
            out.append(grid_blocks(at, a, rows, ranges, stride, full_width))
        return out
    stride = stride_for(spec.shape[1] * problem.nnz)  # a grid row's, on each grid column
    out = []
    for rank in range(spec.size):
        lay, i, j, layer = grid_place(spec, problem.n, rank)
        ranges = [lay.block(s, layer) for s in range(lay.rows)]

        def columns(width: int, j: int = j, layout: GridLayout = lay) -> int:
            lo, hi = layout.features(width, j)
            return hi - lo

        out.append(grid_blocks(at, a, lay.grid_row(i), ranges, stride, columns))
    return out


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


def sparse_factor(measured: float, shape: LocalShape, layers: list[list[Op]],
                  profile: Profile) -> float:
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


RankShape = tuple[LocalShape, int, Buffers]  # what it computes, its stored graph bytes, workspace


def _grid_shapes(problem: Problem, spec: GridSpec, ranks: Sequence[int]
                 ) -> list[RankShape]:
    """Per rank of a 1D/2D/3D grid: its shape, its stored graph bytes, its workspace."""
    out = []
    for rank in ranks:
        r = grid_rank(spec, problem.n, problem.at, problem.a, rank, problem.value_bytes)
        lay = r.layout
        v_lo, v_hi = lay.grid_row(r.i)
        owned = [s for s in range(lay.rows) if s % lay.cols == r.j]
        stored = sum(csr_bytes(v_hi - v_lo, r.counts.forward[s] + r.counts.backward[s],
                               r.index_bytes, r.value_bytes) + (v_hi - v_lo + 1) * r.index_bytes
                     for s in owned)

        def columns(width: int, r_j: int = r.j, layout: GridLayout = lay) -> int:
            lo, hi = layout.features(width, r_j)
            return hi - lo

        shape = LocalShape(lay.block_size(r.i, r.layer), columns, r.counts.forward,
                           r.counts.backward, [r.counts.forward[s] for s in owned],
                           reduced_rows=v_hi - v_lo if lay.layers > 1 else 0)
        others = [s for s in range(lay.rows) if s != r.i]
        received_sparse = max((csr_bytes(v_hi - v_lo, r.counts.forward[s], r.index_bytes,
                                         r.value_bytes)
                               for s in range(lay.rows) if s % lay.cols != r.j), default=0)
        buffers = Buffers(max((lay.block_size(s, r.layer) for s in others), default=0),
                          v_hi - v_lo, received_sparse, lay.layers, lay.cols)
        out.append((shape, stored, buffers))
    return out


def _replicated_shapes(problem: Problem, spec: GridSpec, ranks: Sequence[int]
                       ) -> list[RankShape]:
    out = []
    index_bytes = INDEX_BYTES[max(problem.n, problem.nnz) < 2**31]
    for rank in ranks:
        r = replicated_rank(spec, problem.n, problem.at, problem.a, rank, problem.value_bytes)
        rows = r.block(r.i)
        stored = sum(csr_bytes(rows, f + b, index_bytes, r.value_bytes) + (rows + 1)
                     * index_bytes for f, b in zip(r.counts.forward, r.counts.backward,
                                                   strict=True))
        shape = LocalShape(rows, full_width, r.counts.forward, r.counts.backward,
                           r.counts.forward)
        received = max((r.block(s) for s in r.stages() if s != r.i), default=0)
        out.append((shape, stored, Buffers(received, rows)))
    return out


def _sparsity_aware_shapes(problem: Problem, spec: GridSpec, halos: PartHalos,
                           ranks: Sequence[int]) -> list[RankShape]:
    """sa1d (``c = 1``) and sa1.5d: each rank's compact block over its stages' columns."""
    c = spec.shape[1] if spec.algorithm == "sa1.5d" else 1
    teams = spec.size // c
    index_bytes = INDEX_BYTES[max(problem.n, problem.nnz) < 2**31]
    stage_offsets = balanced_offsets(teams, c)
    offsets, need, nnz = halos
    out = []
    for rank in ranks:
        i, r = divmod(rank, c)
        stages = list(range(int(stage_offsets[r]), int(stage_offsets[r + 1])))
        block = int(nnz[i, stages].sum())
        halo = int(need[i, stages].sum())
        sent = int(need[:, i].sum()) if i in stages else 0
        rows = int(offsets[i + 1] - offsets[i])
        stored = (csr_bytes(rows, block, index_bytes, problem.value_bytes)
                  + csr_bytes(rows + halo, block, index_bytes, problem.value_bytes) + 8 * sent)
        shape = LocalShape(rows, full_width, (block,), (block,), (block,))
        out.append((shape, stored, Buffers(halo + rows, rows, staged=False,
                                                exchange_rows=halo, widened_indices=False)))
    return out


def predict(problem: Problem, candidate: Candidate, profile: Profile,
            partitions: PartitionSource, ranks: Sequence[int] | None = None,
            sparse_seconds: Sequence[float] | None = None) -> Prediction | None:
    """The candidate's prediction, or ``None`` when its partition is not available.

    ``ranks`` limits the prediction to those ranks (default: all); the run's epoch is then the
    slowest of them, which is the run's when they include its busiest rank.
    ``sparse_seconds``: every rank's sparse products timed here (:func:`measured_sparse`),
    which replace the profile's SpMM fit for them; without it the fit prices them.
    """
    spec = candidate.spec
    chosen = selected_ranks(spec, ranks)
    halos = None
    if candidate.partition is not None:
        parts = spec.size // (spec.shape[1] if spec.algorithm == "sa1.5d" else 1)
        halos = problem.part_halos(parts, candidate.partition, partitions)
        if halos is None:
            return None
    traffic = predict_epoch(spec, problem.n, problem.at, problem.a, problem.layers,
                            problem.classes, problem.value_bytes, training=True,
                            offsets=None if halos is None else halos.offsets,
                            need=None if halos is None else halos.need, ranks=chosen)
    if halos is not None:
        shapes = _sparsity_aware_shapes(problem, spec, halos, chosen)
    elif spec.algorithm == "1.5d":
        shapes = _replicated_shapes(problem, spec, chosen)
    else:
        shapes = _grid_shapes(problem, spec, chosen)
    works, factors, alone = [], [], []
    pace_of_fits = calibration_pace(profile)
    for rank, (shape, _, _) in zip(chosen, shapes, strict=True):
        works.append(epoch_work(shape, problem.layers, problem.classes, problem.dropout,
                                problem.parameters))
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
