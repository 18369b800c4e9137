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
from typing import TYPE_CHECKING

import numpy as np

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.synthetic._common import (
    SharedParams,
    canonical_keys,
    check_int,
    check_real,
    equal_ranges,
    fail,
    first_distinct,
    ranged_graph,
    validate,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from pargnn.graph.synthetic._common import GraphOptions

_WHO = "sbm"
_MAX_ROUNDS = 200  # coupon collecting for p close to 1 needs many (cheap, shrinking) rounds
_PAIR_KEYS = ("p_in", "p_out", "degree", "homophily")


@dataclass(frozen=True, kw_only=True, repr=False)
class SbmParams(SharedParams):
    """The parameters of :func:`sbm`; validated on construction (``DatasetError``)."""

    nodes: int
    blocks: int
    p_in: float | None = None
    p_out: float | None = None
    degree: float | None = None
    homophily: float | None = None
    features: int = 64

    def __post_init__(self) -> None:
        validate(_WHO, self, self._check)

    def _check(self) -> None:
        """The checks of the SBM parameters (the shared ones have passed)."""
        check_int(_WHO, "blocks", self.blocks, 1, self.nodes)
        _check_parameterisation(self)
        for key in _PAIR_KEYS:
            value = getattr(self, key)
            if value is not None:
                check_real(_WHO, key, value, 0.0, None if key == "degree" else 1.0)
        self.probabilities()  # checks that degree/homophily give probabilities <= 1

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
    **options: Unpack[GraphOptions],
) -> Graph:
    """A seeded contextual SBM: ``blocks`` equal blocks (= classes), Gaussian features.

    Args:
        nodes, blocks: vertices and blocks (classes); block ``k`` is a contiguous id range.
        p_in, p_out: edge probability inside / across blocks; or instead
        degree, homophily: expected ``nnz / nodes`` and fraction of edges inside blocks.
        features: feature columns (``x = mu[block] + sigma * N(0, I)``).
        options: ``sigma``, ``seed``, ``directed``, ``permute``, ``train``, ``val``, shared by
            all generators (see :class:`~pargnn.graph.synthetic._common.SharedParams`).

    Returns:
        A :class:`Graph` named by its canonical spec; ``meta`` holds the parameters, ``p_in``,
        ``p_out`` and the measured ``edge_homophily``.

    Raises:
        DatasetError: for an invalid or inconsistent parameter.
    """
    p = SbmParams(
        nodes=nodes, blocks=blocks, p_in=p_in, p_out=p_out, degree=degree, homophily=homophily,
        features=features, **options,
    )  # fmt: skip
    return generate(p)


def generate(p: SbmParams) -> Graph:
    """The graph of validated parameters (what :func:`sbm` and ``from_spec`` call)."""
    return ranged_graph(_WHO, p, p.blocks, lambda rng, starts, _: _edges(p, rng, starts))


def _edges(
    p: SbmParams, rng: np.random.Generator, starts: np.ndarray
) -> tuple[np.ndarray, dict[str, object]]:
    """Binomial counts of inside and across edges, then that many distinct uniform pairs each."""
    p_in, p_out = p.probabilities()
    inside, across = p.pairs()
    n_in, n_out = int(rng.binomial(inside, p_in)), int(rng.binomial(across, p_out))
    k_in, drawn_in = _distinct(p, n_in, lambda m: block_pairs(rng, m, starts, inside=True))
    k_out, drawn_out = _distinct(p, n_out, lambda m: block_pairs(rng, m, starts, inside=False))
    keys = np.concatenate((k_in, k_out))  # disjoint sets of pairs
    del k_in, k_out
    keys.sort()
    return keys, {"p_in": p_in, "p_out": p_out, "edges_drawn": drawn_in + drawn_out}


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


def block_pairs(
    rng: np.random.Generator, m: int, starts: np.ndarray, inside: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` uniform ordered pairs ``(u, v)``, ``v`` inside ``u``'s block or outside it.

    A source block is drawn with probability proportional to its pairs, the source ``u``
    uniformly in it, and the target uniformly among the ``others`` vertices ``u`` may pair
    with: its block without ``u`` itself (``inside``) or the vertices of all other blocks. The
    target is drawn as an index into those (offset by the block's first vertex when ``inside``)
    and moved past the excluded run: ``u`` itself, or ``u``'s block.
    """
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sizes = np.diff(starts)
    others = sizes - 1 if inside else int(starts[-1]) - sizes
    blk = _pick_blocks(rng, m, sizes * others)
    first, size = starts[blk], sizes[blk]
    u = first + rng.integers(0, size)
    base, skip_from, skip = (first, u, 1) if inside else (0, first, size)
    v = base + rng.integers(0, others[blk])
    v += np.where(v >= skip_from, skip, 0)
    return u, v
