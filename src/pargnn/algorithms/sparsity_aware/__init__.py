"""Sparsity-aware 1D: each process receives only the rows of ``H`` its block of ``A^T``
touches, its halo, from a partition that keeps most edges inside parts.

The modules:

* :mod:`~pargnn.algorithms.sparsity_aware.halo`: finding the halo and exchanging it (shared
  with sa1.5d);
* :mod:`~pargnn.algorithms.sparsity_aware.algorithm`: the algorithm and how a rank builds it
  (the dense steps are 1D's);
* :mod:`~pargnn.algorithms.sparsity_aware.traffic` and
  :mod:`~pargnn.algorithms.sparsity_aware.costs`: its exact communication model and its
  planner entries (the latter shared with sa1.5d).
"""

from __future__ import annotations

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.sparsity_aware.algorithm import build_sparsity_aware
from pargnn.algorithms.sparsity_aware.costs import COSTS, parts
from pargnn.layout.spec import row_shapes

FAMILY = AlgorithmFamily(
    shapes=row_shapes("sa1d"),
    build=build_sparsity_aware,
    costs=COSTS,
    parts=parts,
)
