"""CAGNET's 1.5D: block rows replicated ``c`` times, the broadcast stages shared by replicas.

``P = R x c`` processes: process ``(i, r)`` holds block row ``B[i]`` of every dense matrix with
every column; replica ``r`` of each block row computes a contiguous chunk of the ``R`` stages,
broadcasting ``X[B[s]]`` within its team ``(*, r)``, and the replicas all-reduce their partial
sums. The modules:

* :mod:`~pargnn.algorithms.one_five_d.spmm`: the aggregation;
* :mod:`~pargnn.algorithms.one_five_d.dense`: transform, bias, scale, dropout, loss, accuracy;
* :mod:`~pargnn.algorithms.one_five_d.attention`: graph attention in this layout;
* :mod:`~pargnn.algorithms.one_five_d.algorithm`: the algorithm and how a rank builds it;
* :mod:`~pargnn.algorithms.one_five_d.traffic` and :mod:`~pargnn.algorithms.one_five_d.costs`:
  its exact communication model and its planner entries.
"""

from __future__ import annotations

from pargnn.algorithms.family import AlgorithmFamily
from pargnn.algorithms.one_five_d.algorithm import build_one_five_d
from pargnn.algorithms.one_five_d.costs import COSTS
from pargnn.layout.spec import replicated_shapes

FAMILY = AlgorithmFamily(
    shapes=replicated_shapes("1.5d"),
    build=build_one_five_d,
    costs=COSTS,
    replicated=True,
)
