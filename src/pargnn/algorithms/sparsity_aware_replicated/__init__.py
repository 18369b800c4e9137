"""Sparsity-aware 1.5D: the halo exchange of sa1d inside each replica team of CAGNET's 1.5D.

A partition cuts the graph into ``R = P / c`` parts; process ``(i, r)`` holds part ``i`` and
computes the stages of replica ``r``, receiving only the halo those stages need within its
team, and the replicas all-reduce their partial sums. The modules:

* :mod:`~pargnn.algorithms.sparsity_aware_replicated.algorithm`: the algorithm (its
  aggregation and attention as autograd Functions) and how a rank builds it; the halo is
  :mod:`pargnn.algorithms.sparsity_aware.halo`'s and the dense steps 1.5D's;
* :mod:`~pargnn.algorithms.sparsity_aware_replicated.traffic`: its exact communication model;
  its planner entries are sa1d's (:mod:`pargnn.algorithms.sparsity_aware.costs`).
"""

from __future__ import annotations

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.sparsity_aware.costs import parts
from pargnn.algorithms.sparsity_aware_replicated.algorithm import (
    build_sparsity_aware_replicated,
)
from pargnn.algorithms.sparsity_aware_replicated.traffic import COSTS
from pargnn.layout.offsets import balanced_offsets
from pargnn.layout.spec import GridSpec, replicated_shapes


def busiest_ranks(spec: GridSpec) -> tuple[int, ...]:
    """With uniform blocks: rank 0 (the largest part, sending it to the team), and for
    ``c > 1`` ranks ``(0, 1)`` and ``(i, 0)``, ``i`` the first part that replica 0's stages
    ``[0, i)`` leave out (those receive a stage more than they send)."""
    teams, c = spec.shape
    if c == 1:
        return (0,)
    outsider = int(balanced_offsets(teams, c)[1])
    return tuple(sorted({0, 1, outsider * c}))


FAMILY = AlgorithmFamily(
    shapes=replicated_shapes("sa1.5d"),
    build=build_sparsity_aware_replicated,
    costs=COSTS,
    parts=parts,
    replicated=True,
    busiest_ranks=busiest_ranks,
)
