"""What every cost model of a run reads: the graph's block counts and the model's steps.

A :class:`Problem` is built once per plan (:func:`pargnn.planner.problem.problem_for`) and
shared by every candidate layout: the non-zero counts of ``A^T`` and ``A`` (a
:class:`~pargnn.cost.blocks.BlockIndex` of the matrices training multiplies, or an estimate
such as :class:`~pargnn.planner.statistics.UniformBlocks`), the model's communicating steps
(:mod:`pargnn.cost.steps`), its parameter count and precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from pargnn.cost.blocks import BlockCounter, matrix_of
from pargnn.cost.steps import Steps
from pargnn.graph.partition import Partition, part_matrices

VALUE_BYTES = {"float32": 4, "float64": 8}

PartitionSource = Callable[[int, str], Partition | None]


class PartHalos(NamedTuple):
    """A partition as the sparsity-aware models see it: part offsets, halo counts ``need``
    and block non-zeros ``nnz`` (see :func:`~pargnn.graph.partition.part_matrices`)."""

    offsets: np.ndarray
    need: np.ndarray
    nnz: np.ndarray


@dataclass(frozen=True)
class Problem:
    """The graph and model as training prepares them (input order)."""

    n: int
    at: BlockCounter
    a: BlockCounter
    features: int
    classes: int
    layers: Steps
    parameters: int
    value_bytes: int
    dropout: bool
    # False: the model trains nothing, and an epoch is one evaluation pass
    training: bool = field(default=True, kw_only=True)

    @property
    def nnz(self) -> int:
        return self.a.nnz

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
