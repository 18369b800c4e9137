"""The exact communication model of any registered algorithm, by grid.

Each family writes its own model (``pargnn/algorithms/<family>/traffic.py``); this module is
the one entry point the tests, the planner and the benchmarks call: per-rank
:class:`~pargnn.cost.traffic.Traffic` of one training step or one evaluation pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pargnn.algorithms.registry import family_of
from pargnn.cost.blocks import Matrix, as_index, matrix_of
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.steps import Steps
from pargnn.cost.traffic import Traffic
from pargnn.graph.partition import halo_matrix
from pargnn.layout.spec import GridSpec


def predict_epoch(spec: GridSpec, n: int, at: Matrix, a: Matrix, layers: Steps,
                  classes: int, value_bytes: int, training: bool = True,
                  offsets: np.ndarray | None = None, need: np.ndarray | None = None,
                  ranks: Sequence[int] | None = None) -> list[Traffic]:
    """Per-rank traffic of one training step (or one evaluation pass) for ``spec``, for
    each of ``ranks`` in order (default: every rank).

    For a family that partitions the graph, ``offsets`` are the partition's part offsets,
    and either ``at`` is in partition order or ``need`` is the partition's
    :func:`~pargnn.graph.partition.halo_matrix`.
    """
    family = family_of(spec.algorithm)
    halos = None
    if family.partitioned:
        if offsets is None:
            raise ValueError(f"{spec.algorithm} needs the partition's offsets")
        if need is None:
            need = halo_matrix(matrix_of(at), offsets)
        halos = PartHalos(np.asarray(offsets), need, np.zeros_like(need))
    problem = Problem(n, as_index(at), as_index(a), 0, classes, layers, 0, value_bytes, False)
    return family.costs.traffic(problem, spec, halos, ranks, training)
