"""Planning from a graph's statistics alone, for graphs too large to materialise here.

The planner's exact model (:mod:`pargnn.algorithms.exact`) counts the non-zeros of every block and
the halo of every partition on the graph itself. A Reddit-sized graph (115 million non-zeros)
or a billion-edge one need not fit on the machine that plans its run: its size, its feature
and class widths and the model decide most of what each layout sends and computes. This module
estimates the counts the exact model asks for from ``n`` vertices and ``E`` non-zeros, and
feeds them to the same per-rank models the planner uses for a real graph:

* **uniform blocks** (:class:`UniformBlocks`): the ``E`` non-zeros of ``A`` are spread
  uniformly, so rows ``[lo, hi)`` hold ``E (hi - lo) / n`` of them and the block of those
  rows and ``C`` columns ``E (hi - lo) C / n^2``; the self-loops of ``A + I`` (GCN, GAT) lie
  on the diagonal. This holds in expectation for an Erdős–Rényi graph, or for any graph whose
  vertices were randomly permuted (``--permute``); a power-law graph in its input order has
  uneven blocks, and its busiest rank is busier than predicted.
* **random-partition halos** (:func:`random_halos`): the sparsity-aware algorithms are
  priced for a random partition into balanced parts. With ``d = E / n`` edges per vertex, a
  vertex has an edge into part ``i`` (of ``m_i`` vertices) with probability
  ``1 - (1 - m_i / n)^d``, so part ``i`` needs ``need[i, j] = m_j (1 - (1 - m_i / n)^d)``
  rows of part ``j``, and ``nnz[i, j] = E m_i m_j / n^2`` non-zeros join them. This is an
  upper bound on the halo: a partitioner that follows the graph's structure (METIS) cuts fewer
  edges, by how much cannot be known without the graph, and a skewed degree distribution
  lowers the random halo too (``1 - (1 - p)^d`` is concave in ``d``). The ``block`` and
  ``metis`` candidates are therefore left out.
* **representative ranks** (:func:`representative_ranks`): with uniform blocks the ranks
  of a layout differ only by the rounding of balanced block sizes, and rank 0 holds the
  first, largest block in every dimension (vertex rows, layers, feature columns, 1.5D
  stages, parts), so it is the busiest. sa1.5d has two kinds of rank: those whose stages
  include their own part send its rows to the team, the others send nothing and receive the
  halo of every one of their stages, one part more. Rank 0 is the busiest of the first kind;
  of the second, the busiest is either rank 1 (the largest part, replica 1's stages) or the
  first part outside replica 0's stages, which are the most of any replica. The plan
  predicts these one to three ranks instead of ``P``, which makes ``P = 4096`` quick.

The model's steps come from the configured model built for the feature and class widths
(:func:`~pargnn.planner.problem.model_steps`), as for a real graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pargnn.algorithms.registry import family_of
from pargnn.config import TrainConfig
from pargnn.cost.problem import VALUE_BYTES, PartHalos, PartitionSource, Problem
from pargnn.graph.normalize import adds_self_loops
from pargnn.graph.partition import Partition
from pargnn.layout.offsets import balanced_offsets
from pargnn.layout.spec import GridSpec
from pargnn.nn.models import MODELS
from pargnn.planner.planner import Candidate, Plan, make_plan
from pargnn.planner.problem import model_steps
from pargnn.planner.profile import Profile

KNOWN_PARTITIONS = (None, "random")  # what statistics can price: no partition, or random


def _round_ratio(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, exactly for integers of any size."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class UniformColumns:
    """Cumulative column counts of rows ``[lo, hi)`` of :class:`UniformBlocks`, computed on
    demand: ``self[c]`` is ``round(R c / n)`` for the rows' ``R`` spread non-zeros, plus the
    diagonal entries ``(v, v)`` with ``lo <= v < min(hi, c)`` when there is a diagonal."""

    n: int
    row_nnz: int
    lo: int
    hi: int
    diagonal: bool

    def __getitem__(self, column: int) -> int:
        spread = _round_ratio(self.row_nnz * column, self.n)
        loops = max(0, min(self.hi, column) - self.lo) if self.diagonal else 0
        return spread + loops


@dataclass(frozen=True)
class UniformBlocks:
    """Block counts of an ``n x n`` matrix whose ``spread`` non-zeros lie uniformly, plus the
    identity's diagonal when ``diagonal`` (the self-loops of ``A + I``); a
    :class:`~pargnn.cost.blocks.BlockCounter`, so the exact model accepts it for a matrix.

    Rows ``[0, r)`` hold ``S(r) = round(spread r / n)`` spread non-zeros, rows ``[lo, hi)``
    ``R = S(hi) - S(lo)``, and their columns ``[0, c)`` ``round(R c / n)``, which is
    ``round(spread (hi - lo) / n x c / n)`` up to rounding. Counting by differences keeps
    every block non-negative and makes the blocks of any grid sum to :attr:`nnz` exactly.
    Nothing of size ``n`` is allocated: ``n`` may be 10^8 or more.
    """

    n: int
    spread: int
    diagonal: bool = False

    @property
    def nnz(self) -> int:
        return self.spread + (self.n if self.diagonal else 0)

    def rows_before(self, row: int) -> int:
        """``S(row)``: spread non-zeros of rows ``[0, row)``."""
        return _round_ratio(self.spread * row, self.n)

    def cumulative(self, lo: int, hi: int) -> UniformColumns:
        """Non-zeros of rows ``[lo, hi)`` in columns ``[0, c)``, as ``out[c]``."""
        row_nnz = self.rows_before(hi) - self.rows_before(lo)
        return UniformColumns(self.n, row_nnz, lo, hi, self.diagonal)


@dataclass(frozen=True)
class GraphStatistics:
    """What statistics-only planning knows of a graph: ``vertices``, ``edges`` (the
    non-zeros of its adjacency matrix ``A`` without self-loops; a symmetric graph counts each
    edge twice), and the widths of its features and classes."""

    name: str
    vertices: int
    edges: int
    features: int
    classes: int


def random_halos(n: int, edges: int, offsets: np.ndarray, self_loops: bool) -> PartHalos:
    """Expected halo counts and block non-zeros of a random partition with parts ``offsets``.

    With ``m_i`` vertices in part ``i`` and ``d = edges / n``::

        need[i, j] = m_j (1 - (1 - m_i / n)^d)     (i != j; need[i, i] = 0)
        nnz[i, j]  = edges m_i m_j / n^2           (+ m_i on the diagonal with self-loops)

    ``need[i, j]`` is the expected number of distinct vertices of part ``j`` with an edge into
    part ``i`` when each of a vertex's ``d`` edges lands in part ``i`` with probability
    ``m_i / n``. This is the random partition's halo, an upper bound for a partitioner that
    follows the graph (METIS does better, by an amount only the graph can tell). The values are
    expectations (floats); the model sums them over parts, then truncates to an integer.
    """
    sizes = np.diff(np.asarray(offsets, dtype=np.int64)).astype(np.float64)
    reached = -np.expm1((edges / n) * np.log1p(-sizes / n))  # 1 - (1 - m_i / n)^d
    need = np.outer(reached, sizes)
    np.fill_diagonal(need, 0.0)
    nnz = np.outer(sizes, sizes * (edges / n / n))
    if self_loops:
        nnz[np.diag_indices_from(nnz)] += sizes
    return PartHalos(np.asarray(offsets, dtype=np.int64), need, nnz)


@dataclass(frozen=True)
class UniformProblem(Problem):
    """A :class:`~pargnn.cost.problem.Problem` known by its statistics: uniform block counts
    (``at`` and ``a`` are :class:`UniformBlocks`) and random-partition halos for the
    sparsity-aware candidates. ``edges`` are the non-zeros of ``A`` without the self-loops
    the model adds (``self_loops``)."""

    edges: int
    self_loops: bool

    def part_halos(self, parts: int, method: str, partitions: PartitionSource
                   ) -> PartHalos | None:
        """The expected halos of a balanced random partition (:func:`random_halos`); other
        partitioners depend on the graph's structure and are not available (``None``)."""
        if method != "random":
            return None
        return random_halos(self.n, self.edges, balanced_offsets(self.n, parts),
                            self.self_loops)


def uniform_problem(graph: GraphStatistics, config: TrainConfig) -> UniformProblem:
    """The problem ``config``'s model poses on a graph with ``graph``'s statistics (the
    pattern is ``A + I`` for the models that add self-loops, as in
    :func:`~pargnn.planner.problem.problem_for`)."""
    self_loops = adds_self_loops(MODELS[config.model].normalization)
    blocks = UniformBlocks(graph.vertices, graph.edges, self_loops)
    layers, parameters = model_steps(config, graph.features, graph.classes)
    return UniformProblem(graph.vertices, blocks, blocks, graph.features, graph.classes,
                          layers, parameters, VALUE_BYTES[config.dtype], config.dropout > 0,
                          graph.edges, self_loops)


def representative_ranks(spec: GridSpec) -> tuple[int, ...]:
    """The ranks of ``spec`` that bound its epoch on uniform blocks: each family says which
    (:attr:`~pargnn.algorithms.family.AlgorithmFamily.busiest_ranks`; see the module's
    docstring)."""
    return family_of(spec.algorithm).busiest_ranks(spec)


def _no_partitions(parts: int, method: str) -> Partition | None:
    return None  # a UniformProblem derives its halos itself


def _priced_from_statistics(candidate: Candidate) -> bool:
    return candidate.partition in KNOWN_PARTITIONS


def plan_from_statistics(graph: GraphStatistics, config: TrainConfig, nprocs: int,
                         profile: Profile, every_rank: bool = False) -> Plan:
    """Every layout for ``nprocs`` that statistics can price (all but the ``block`` and
    ``metis`` partitions), predicted for ``config``'s model on a graph with ``graph``'s
    statistics and sorted by epoch time.

    Only the :func:`representative_ranks` are predicted; ``every_rank`` predicts them all, as
    the planner does for a real graph (the same epoch up to the rounding of block sizes, at
    ``P`` times the cost).
    """
    return make_plan(uniform_problem(graph, config), nprocs, profile, _no_partitions,
                     _priced_from_statistics, None if every_rank else representative_ranks)
