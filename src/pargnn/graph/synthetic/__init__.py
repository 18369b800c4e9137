"""Seeded, reproducible synthetic graphs: R-MAT power-law graphs and contextual SBMs.

Why they exist: the big graphs pargnn is meant to scale to cannot be downloaded here (and CI has
no network), and ``pargnn train`` needs a dataset that works out of the box. These generators
build graphs of any size in seconds (a million vertices and ten million edges in a few seconds
on two cores), bit-identically for the same spec on every run, and *learnable*: features depend
on the class and the structure is homophilous, so a GCN measurably beats a feature-only MLP.

* :func:`rmat`: R-MAT / stochastic-Kronecker power-law graphs (recursive quadrant choice with
  per-level noise), with classes planted as contiguous id ranges that a tunable fraction of edges
  stays inside; see :mod:`.rmat`.
* :func:`sbm`: contextual stochastic block models, sampled in ``O(blocks + edges)`` by drawing
  the number of inside / across edges from binomials and then uniform pairs; see :mod:`.sbm`.
* :func:`from_spec`: ``rmat:nodes=...,degree=...`` / ``sbm:...`` strings, as the CLI takes them;
  a graph's ``name`` is its canonical spec; see :mod:`.spec`.
* :data:`DEFAULT_SPEC`: the built-in dataset of ``pargnn train`` without ``--dataset``.

Features (both generators) are ``mu[label] + sigma * N(0, I)``; see :mod:`.features`.
Each generator draws edges, features, the optional permutation and the split from separate
seeded streams, so e.g. changing ``features`` leaves the edges unchanged.
"""

from pargnn.graph.synthetic.rmat import RmatParams, rmat
from pargnn.graph.synthetic.sbm import SbmParams, sbm
from pargnn.graph.synthetic.spec import DEFAULT_SPEC, from_spec, parse_spec, usage

__all__ = [
    "DEFAULT_SPEC",
    "RmatParams",
    "SbmParams",
    "from_spec",
    "parse_spec",
    "rmat",
    "sbm",
    "usage",
]
