"""R-MAT (recursive matrix / stochastic Kronecker) graphs with planted, learnable classes.

The model
---------
R-MAT (Chakrabarti, Zhan & Faloutsos 2004; the Graph500 generator) places an edge in a
``2^s x 2^s`` adjacency, ``s = ceil(log2(nodes))``, by descending ``s`` levels of quadrants: at
each level it picks the top-left, top-right, bottom-left or bottom-right quadrant with
probabilities ``a, b, c, d`` and appends one bit to the row id (0 for top) and one to the column
id (0 for left). Vertex ``u``'s expected out-degree is thus proportional to
``(a + b)^zeros(u) * (c + d)^ones(u)`` over the bits of ``u``: a power law with the hubs at small
ids (vertex 0 is the dense corner). Here every level of all ``m`` edges is drawn at once from one
uniform ``r`` per edge: row bit ``= r >= a + b``; column bit
``= (r >= a) xor (r >= a + b) xor (r >= a + b + c)``.

With the same ``a, b, c, d`` at every level the degree distribution has a staircase of
exactly-equal probabilities. As in Seshadhri, Pinar & Kolda's "noisy" SKG (used by Graph500 and
PaRMAT in the same spirit) each level ``l`` perturbs them by one ``mu_l ~ U[-noise, noise]``:
``a -= 2 mu a / (a + d)``, ``d -= 2 mu d / (a + d)``, ``b += mu``, ``c += mu`` (the sum stays 1; a
non-negative result needs ``noise <= min(b, c, (a + d) / 2)``).

Ids past ``nodes - 1`` (when ``nodes`` is not a power of two) are *rejected*, not folded: the kept
edges follow R-MAT conditioned on both ends existing, with no pile-up on the low ids that folding
modulo ``nodes`` would add. At least the ``a`` quadrant always survives, so rejection costs at most
a factor ``1 / a`` in draws.

Classes and homophily
---------------------
Plain R-MAT has no community structure a GNN could use: with the Graph500 parameters
``a d < b c``, so the row and column bits of an edge are (slightly) *negatively* correlated, and
labelling vertices by the top bits of their id gives an edge homophily *below* the degree-weighted
chance level. So the classes are planted: class ``k`` is the ``k``-th of ``classes`` contiguous,
equal id ranges (for powers of two: the top-level quadrants of the recursion), and a fraction
``homophily`` of the drawn edges has its target moved into the source's class, keeping its relative
position inside the range (``v -> start[c_u] + (v - start[c_v]) * size[c_u] // size[c_v]``). That
keeps every out-degree and the R-MAT skew inside each range. The measured edge homophily
(``meta["edge_homophily"]``) comes out within a few points of ``homophily``: the other edges add
some same-class pairs by chance, while moved edges are a little more often duplicates (e.g. 0.55 at
0.5 and 0.89 at 0.9 for 8192 vertices and 8 classes). ``homophily=0`` is plain R-MAT.
Features are class-dependent Gaussians (see ``features``).

Degree
------
``degree`` is the stored non-zeros per row of the final adjacency, ``nnz / nodes`` (both directions
of an undirected edge count). Self-loops, rejected ids and duplicates (frequent around the hubs) are
dropped, so the generator draws in rounds: the first round draws ``1.125`` times the number of
distinct edges needed; each next one draws what is missing divided by the last round's yield of new
distinct edges (times 1.1). The graph then keeps the first ``round(degree * nodes / 2)`` distinct
undirected edges (``degree * nodes`` directed ones) in draw order, i.e. exactly what drawing "until
there are enough distinct edges" would give, so ``nnz / nodes`` matches ``degree`` to rounding.
"""

from __future__ import annotations

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
    first_distinct,
    ranged_graph,
    validate,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from pargnn.graph.synthetic._common import GraphOptions

_WHO = "rmat"
_CHUNK = 1 << 18  # edges per block of the level loop: its arrays stay in cache


@dataclass(frozen=True, kw_only=True, repr=False)
class RmatParams(SharedParams):
    """The parameters of :func:`rmat`; validated on construction (``DatasetError``)."""

    nodes: int
    degree: float
    features: int = 64
    classes: int = 8
    a: float = 0.57
    b: float = 0.19
    c: float = 0.19
    d: float = 0.05
    noise: float = 0.1
    homophily: float = 0.5

    def __post_init__(self) -> None:
        validate(_WHO, self, self._check)

    def _check(self) -> None:
        """The checks of the R-MAT parameters (the shared ones have passed)."""
        check_real(_WHO, "degree", self.degree, 0.0, float(self.nodes - 1))
        check_int(_WHO, "classes", self.classes, 1, self.nodes)
        for key in ("a", "b", "c", "d"):
            check_real(_WHO, key, getattr(self, key), 0.0, 1.0)
        total = self.a + self.b + self.c + self.d
        if abs(total - 1.0) > 1e-6:
            raise DatasetError(
                f"{_WHO}: a+b+c+d={total:.6g} (a={self.a!r}, b={self.b!r}, c={self.c!r}, "
                f"d={self.d!r}) is invalid: the quadrant probabilities must sum to 1"
            )
        check_real(_WHO, "noise", self.noise, 0.0, min(self.b, self.c, (self.a + self.d) / 2))
        check_real(_WHO, "homophily", self.homophily, 0.0, 1.0)

    @property
    def scale(self) -> int:
        """Recursion depth ``ceil(log2(nodes))``."""
        return int(self.nodes - 1).bit_length()

    @property
    def target_edges(self) -> int:
        """Distinct edges to keep: undirected ones count twice in ``nnz``."""
        return round(self.degree * self.nodes / (1 if self.directed else 2))


def rmat(
    nodes: int,
    degree: float,
    features: int = 64,
    classes: int = 8,
    *,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    d: float = 0.05,
    noise: float = 0.1,
    homophily: float = 0.5,
    **options: Unpack[GraphOptions],
) -> Graph:
    """A seeded R-MAT graph with ``nnz / nodes ~ degree`` and ``classes`` planted classes.

    Args:
        nodes, degree: vertices and stored non-zeros per row (``nnz / nodes``).
        features, classes: feature columns and classes (class = contiguous id range).
        a, b, c, d: quadrant probabilities (sum 1); ``noise``: per-level perturbation of them.
        homophily: fraction of drawn edges moved inside their source's class (0: plain R-MAT).
        options: ``sigma``, ``seed``, ``directed``, ``permute``, ``train``, ``val``, shared by
            all generators (see :class:`~pargnn.graph.synthetic._common.SharedParams`).

    Returns:
        A :class:`Graph` named by its canonical spec; ``meta`` holds the parameters, the
        recursion ``scale``, the number of edges drawn and the measured ``edge_homophily``.

    Raises:
        DatasetError: for an invalid parameter, or when the degree cannot be reached.
    """
    p = RmatParams(
        nodes=nodes, degree=degree, features=features, classes=classes, a=a, b=b, c=c, d=d,
        noise=noise, homophily=homophily, **options,
    )  # fmt: skip
    return generate(p)


def generate(p: RmatParams) -> Graph:
    """The graph of validated parameters (what :func:`rmat` and ``from_spec`` call)."""

    def draw(
        rng: np.random.Generator, starts: np.ndarray, labels: np.ndarray
    ) -> tuple[np.ndarray, dict[str, object]]:
        keys, drawn = _distinct_edges(p, rng, starts, labels)
        return keys, {"scale": p.scale, "edges_drawn": drawn}

    return ranged_graph(_WHO, p, p.classes, draw)


def level_thresholds(p: RmatParams, rng: np.random.Generator) -> np.ndarray:
    """Per level, the cumulative quadrant probabilities ``a, a + b, a + b + c`` after noise."""
    mu = rng.uniform(-p.noise, p.noise, size=p.scale)
    ad = p.a + p.d
    shrink = 2.0 * mu / ad if ad > 0 else np.zeros(p.scale)
    a = p.a * (1.0 - shrink)
    b = p.b + mu
    c = p.c + mu
    return np.stack((a, a + b, a + b + c), axis=1)


def rmat_pairs(
    rng: np.random.Generator, m: int, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` raw R-MAT edges ``(src, dst)`` over ``[0, 2^scale)``, int64."""
    src = np.zeros(m, dtype=np.int64)
    dst = np.zeros(m, dtype=np.int64)
    t = thresholds.astype(np.float32)
    for lo in range(0, m, _CHUNK):
        s, d = src[lo : lo + _CHUNK], dst[lo : lo + _CHUNK]
        for ta, tab, tabc in t:
            r = rng.random(s.shape[0], dtype=np.float32)
            s <<= 1
            d <<= 1
            s |= r >= tab
            d |= (r >= ta) ^ (r >= tab) ^ (r >= tabc)
    return src, dst


def _draw(
    p: RmatParams,
    rng: np.random.Generator,
    m: int,
    thresholds: np.ndarray,
    starts: np.ndarray,
    labels: np.ndarray,
) -> np.ndarray:
    """Keys of ``m`` drawn edges that survive rejection, rewiring and self-loop removal."""
    src, dst = rmat_pairs(rng, m, thresholds)
    ok = (src < p.nodes) & (dst < p.nodes)
    src, dst = src[ok], dst[ok]
    if p.homophily > 0:
        move = np.flatnonzero(rng.random(src.shape[0]) < p.homophily)
        cu, cv = labels[src[move]], labels[dst[move]]
        size = np.diff(starts)
        dst[move] = starts[cu] + (dst[move] - starts[cv]) * size[cu] // size[cv]
    return canonical_keys(src, dst, p.nodes, p.directed)


def _distinct_edges(
    p: RmatParams, rng: np.random.Generator, starts: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, int]:
    """The first ``p.target_edges`` distinct edge keys in draw order (sorted), and draws made."""
    thresholds = level_thresholds(p, rng)
    keys, drawn = first_distinct(
        lambda m: _draw(p, rng, m, thresholds, starts, labels), p.target_edges
    )
    if keys.shape[0] < p.target_edges:
        raise DatasetError(
            f"{_WHO}: degree={p.degree!r} cannot be reached: {drawn} draws gave only "
            f"{keys.shape[0]} distinct edges of the {p.target_edges} needed (the graph saturates "
            f"with these a, b, c, d); lower degree or raise nodes"
        )
    return keys, drawn
