"""Contextual stochastic block models: planted communities with class-dependent features.

The model
---------
``nodes`` vertices fall into ``blocks`` contiguous id ranges of (near-)equal size; the block is
the class. Every pair of distinct vertices is an edge independently, with probability ``p_in``
inside a block and ``p_out`` across blocks; features are class-dependent Gaussians (see
``features``). Instead of ``p_in, p_out`` one can give ``degree`` (expected ``nnz / nodes``) and
``homophily`` (expected fraction of edges inside blocks), from which

    p_in  = homophily       * E / (pairs inside blocks)
    p_out = (1 - homophily) * E / (pairs across blocks),    E = expected number of edges,

with ``E = degree * nodes / 2`` undirected (both directions are stored) or ``degree * nodes``
directed, and pairs counted unordered or ordered to match.

Sampling without ``n^2`` work
-----------------------------
All pairs inside blocks share one probability, so the number of inside edges is one
``k_in ~ Binomial(pairs inside, p_in)`` draw and, given ``k_in``, the edges are a uniform
``k_in``-subset of those pairs. The subset is drawn as uniform pairs *with* replacement -- a block
with probability proportional to its pairs, then two distinct vertices of it -- keeping the first
``k_in`` distinct ones (topping up in rounds while duplicates leave it short); the first ``k``
distinct values of a stream of uniform draws are a uniform ``k``-subset, so the result is exactly
the SBM, not an approximation. Likewise across blocks: a source block with probability
``size_b (nodes - size_b)``, a source in it and a target uniform among the vertices outside it.
All of it is ``O(blocks + edges)`` time and memory whatever the number of block pairs; only
probabilities close to 1 on big blocks get slow (coupon collecting), and such graphs are not
sparse anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.synthetic._common import (
    STREAM_EDGES,
    assemble,
    canonical_keys,
    canonical_name,
    check_common,
    check_int,
    check_real,
    coerce_floats,
    equal_ranges,
    fail,
    first_distinct,
    range_labels,
    stream,
)

_WHO = "sbm"
_MAX_ROUNDS = 200  # coupon collecting for p close to 1 needs many (cheap, shrinking) rounds
_PAIR_KEYS = ("p_in", "p_out", "degree", "homophily")


@dataclass(frozen=True, kw_only=True)
class SbmParams:
    """The parameters of :func:`sbm`; validated on construction (``DatasetError``)."""

    nodes: int
    blocks: int
    p_in: float | None = None
    p_out: float | None = None
    degree: float | None = None
    homophily: float | None = None
    features: int = 64
    sigma: float = 1.0
    seed: int = 0
    directed: bool = False
    permute: bool = False
    train: float = 0.6
    val: float = 0.2

    def __post_init__(self) -> None:
        check_common(_WHO, self)
        check_int(_WHO, "blocks", self.blocks, 1, self.nodes)
        _check_parameterisation(self)
        for key in _PAIR_KEYS:
            value = getattr(self, key)
            if value is not None:
                check_real(_WHO, key, value, 0.0, None if key == "degree" else 1.0)
        self.probabilities()  # checks that degree/homophily give probabilities <= 1
        coerce_floats(self)

    def pairs(self) -> tuple[int, int]:
        """Vertex pairs inside and across blocks (ordered when directed, unordered otherwise)."""
        sizes = np.diff(equal_ranges(self.nodes, self.blocks))
        inside = int(np.sum(sizes * (sizes - 1)))
        across = self.nodes * self.nodes - int(np.sum(sizes * sizes))
        return (inside, across) if self.directed else (inside // 2, across // 2)

    def probabilities(self) -> tuple[float, float]:
        """``(p_in, p_out)``, given or computed from ``degree`` and ``homophily``."""
        if self.p_in is not None and self.p_out is not None:
            return self.p_in, self.p_out
        assert self.degree is not None and self.homophily is not None
        edges = self.degree * self.nodes / (1 if self.directed else 2)
        inside, across = self.pairs()
        p_in = _ratio(self.homophily * edges, inside, "homophily", self.homophily)
        p_out = _ratio((1 - self.homophily) * edges, across, "homophily", self.homophily)
        if p_in > 1 or p_out > 1:
            raise fail(
                _WHO, "degree", self.degree,
                f"with homophily={self.homophily!r} it needs p_in={p_in:.3g}, "
                f"p_out={p_out:.3g}, but probabilities must be <= 1; lower degree or blocks",
            )  # fmt: skip
        return p_in, p_out


def _check_parameterisation(p: SbmParams) -> None:
    """Exactly one of the pairs ``(p_in, p_out)`` and ``(degree, homophily)`` is given."""
    by_p = (p.p_in is not None, p.p_out is not None)
    by_degree = (p.degree is not None, p.homophily is not None)
    if any(by_p) and any(by_degree):
        key = "degree" if p.degree is not None else "homophily"
        raise fail(_WHO, key, getattr(p, key),
                   "give either p_in and p_out, or degree and homophily, not both")
    if all(by_p) or all(by_degree):
        return
    if any(by_p):
        key = "p_in" if p.p_in is None else "p_out"
    elif any(by_degree):
        key = "degree" if p.degree is None else "homophily"
    else:
        key = "p_in"
    raise DatasetError(
        f"{_WHO}: {key} is missing: give both p_in and p_out, or both degree and homophily"
    )


def _ratio(edges: float, pairs: int, key: str, value: object) -> float:
    if pairs == 0:
        if edges > 0:
            raise fail(_WHO, key, value, "there are no vertex pairs for these edges "
                       "(homophily < 1 needs blocks >= 2; homophily > 0 needs blocks < nodes)")
        return 0.0
    return edges / pairs


def sbm(
    nodes: int,
    blocks: int,
    p_in: float | None = None,
    p_out: float | None = None,
    *,
    degree: float | None = None,
    homophily: float | None = None,
    features: int = 64,
    sigma: float = 1.0,
    seed: int = 0,
    directed: bool = False,
    permute: bool = False,
    train: float = 0.6,
    val: float = 0.2,
) -> Graph:
    """A seeded contextual SBM: ``blocks`` equal blocks (= classes), Gaussian features.

    Args:
        nodes, blocks: vertices and blocks (classes); block ``k`` is a contiguous id range.
        p_in, p_out: edge probability inside / across blocks; or instead
        degree, homophily: expected ``nnz / nodes`` and fraction of edges inside blocks.
        features, sigma: feature columns and noise (``x = mu[block] + sigma * N(0, I)``).
        seed: one seed for edges, features, permutation and split (each its own stream).
        directed: keep ``u -> v`` only; otherwise both directions are stored.
        permute: relabel the vertices at random (the default keeps blocks contiguous).
        train, val: split fractions (the rest is test).

    Returns:
        A :class:`Graph` named by its canonical spec; ``meta`` holds the parameters, ``p_in``,
        ``p_out`` and the measured ``edge_homophily``.

    Raises:
        DatasetError: for an invalid or inconsistent parameter.
    """
    p = SbmParams(
        nodes=nodes, blocks=blocks, p_in=p_in, p_out=p_out, degree=degree, homophily=homophily,
        features=features, sigma=sigma, seed=seed, directed=directed, permute=permute,
        train=train, val=val,
    )  # fmt: skip
    return generate(p)


def generate(p: SbmParams) -> Graph:
    """The graph of validated parameters (what :func:`sbm` and ``from_spec`` call)."""
    starts = equal_ranges(p.nodes, p.blocks)
    p_in, p_out = p.probabilities()
    inside, across = p.pairs()
    rng = stream(p.seed, STREAM_EDGES)
    n_in, n_out = int(rng.binomial(inside, p_in)), int(rng.binomial(across, p_out))
    k_in, drawn_in = _distinct(p, n_in, lambda m: inside_pairs(rng, m, starts))
    k_out, drawn_out = _distinct(p, n_out, lambda m: across_pairs(rng, m, starts))
    keys = np.concatenate((k_in, k_out))  # disjoint sets of pairs
    del k_in, k_out
    keys.sort()
    meta = {"generator": _WHO, "p_in": p_in, "p_out": p_out, "edges_drawn": drawn_in + drawn_out}
    return assemble(canonical_name(_WHO, p), p, keys, range_labels(starts), p.blocks, meta)


def _distinct(
    p: SbmParams, count: int, pairs: Callable[[int], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, int]:
    """``count`` distinct uniform pairs (as keys) out of the draws of ``pairs``."""

    def draw(m: int) -> np.ndarray:
        u, v = pairs(m)
        return canonical_keys(u, v, p.nodes, p.directed)

    keys, drawn = first_distinct(draw, count, max_rounds=_MAX_ROUNDS)
    if keys.shape[0] < count:  # only for p near 1 on big blocks (coupon collecting)
        raise fail(_WHO, "p_in", p.p_in, f"{count} distinct pairs were not found in {drawn} "
                   "draws; use edge probabilities well below 1")
    return keys, drawn


def _pick_blocks(rng: np.random.Generator, m: int, weights: np.ndarray) -> np.ndarray:
    """``m`` block indices drawn with probability proportional to ``weights`` (some > 0)."""
    cum = np.cumsum(weights.astype(np.float64))
    blocks = np.searchsorted(cum, rng.random(m) * cum[-1], side="right")
    return np.minimum(blocks, int(np.flatnonzero(weights > 0)[-1]))


def inside_pairs(
    rng: np.random.Generator, m: int, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` uniform ordered pairs of distinct vertices in a common block (with replacement)."""
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sizes = np.diff(starts)
    blk = _pick_blocks(rng, m, sizes * (sizes - 1))
    size = sizes[blk]
    u = rng.integers(0, size)
    v = rng.integers(0, size - 1)
    v += v >= u
    return starts[blk] + u, starts[blk] + v


def across_pairs(
    rng: np.random.Generator, m: int, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` uniform ordered pairs of vertices in different blocks (with replacement)."""
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sizes = np.diff(starts)
    n = int(starts[-1])
    blk = _pick_blocks(rng, m, sizes * (n - sizes))
    u = starts[blk] + rng.integers(0, sizes[blk])
    v = rng.integers(0, n - sizes[blk])
    v += np.where(v >= starts[blk], sizes[blk], 0)
    return u, v
