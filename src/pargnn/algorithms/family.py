"""What an algorithm family declares: one record that says everything about it.

A family is one way of laying a graph out over processes (CAGNET's SUMMA grids, 1.5D
replication, the sparsity-aware halo exchanges). Each lives in its own package under
:mod:`pargnn.algorithms` and declares, in its ``__init__``, one :class:`AlgorithmFamily`:

* its name(s) (``--algo``) and the grid shapes it accepts for ``P`` processes;
* how one rank builds its blocks and its runtime :class:`~pargnn.algorithms.contract.Algorithm`;
* its entries in the exact communication model (per-rank :class:`~pargnn.cost.traffic.Traffic`)
  and in the planner (the layouts it offers, what each rank computes and stores, the sparse
  blocks it multiplies).

:mod:`pargnn.algorithms.registry` lists the families; nothing else in pargnn matches an
algorithm's name. Adding an algorithm is one package and one line there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pargnn.algorithms.contract import Algorithm
from pargnn.algorithms.prepare import BuildOptions, PreparedGraph
from pargnn.cost.memory import RankShape
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.sparse_timing import RankBlocks
from pargnn.cost.traffic import Traffic
from pargnn.dist.comm import Communicator
from pargnn.graph.partition import Partition
from pargnn.layout.spec import GridSpec, Shapes

Ranks = Sequence[int] | None  # the ranks to predict; None: every rank


def first_rank(spec: GridSpec) -> tuple[int, ...]:
    """Rank 0 holds the first, largest block in every dimension of a balanced layout."""
    return (0,)


@dataclass(frozen=True)
class FamilyCosts:
    """A family's entries in the cost models.

    Attributes:
        traffic: per-rank traffic of one training step (``training``) or one evaluation
            pass, given the partition's halos for a partitioned family.
        rank_shapes: per rank, what it computes, stores and receives (compute and memory).
        rank_blocks: every rank's sparse blocks as training multiplies them (a row sample),
            given the partition for a partitioned family.
    """

    traffic: Callable[[Problem, GridSpec, PartHalos | None, Ranks, bool], list[Traffic]]
    rank_shapes: Callable[[Problem, GridSpec, PartHalos | None, Ranks], list[RankShape]]
    rank_blocks: Callable[[Problem, GridSpec, Partition | None], list[RankBlocks]]


@dataclass(frozen=True)
class AlgorithmFamily:
    """One family of distributed algorithms (see the module docstring); its package's
    docstring describes it.

    Attributes:
        shapes: its ``--algo`` names, the grids it accepts, those the planner considers, and
            the flags that select one (:class:`~pargnn.layout.spec.Shapes`).
        build: this rank's algorithm for a prepared graph (every rank calls it together).
        costs: its exact communication model and planner entries.
        parts: for a family that partitions the graph, how many parts a grid cuts.
        replicated: whether ``--replication`` applies.
        busiest_ranks: the ranks that bound a grid's epoch when its blocks are uniform
            (statistics-only planning).
    """

    shapes: Shapes
    build: Callable[[PreparedGraph, GridSpec, BuildOptions, Communicator], Algorithm]
    costs: FamilyCosts
    parts: Callable[[GridSpec], int] | None = None
    replicated: bool = False
    busiest_ranks: Callable[[GridSpec], tuple[int, ...]] = first_rank

    @property
    def names(self) -> tuple[str, ...]:
        return self.shapes.names

    @property
    def partitioned(self) -> bool:
        """Whether it cuts the graph with a partitioner (``--partition``)."""
        return self.parts is not None
