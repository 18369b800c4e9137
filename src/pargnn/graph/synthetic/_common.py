"""What the R-MAT and SBM generators share: options, checks, seeding, naming and assembling.

Both generators produce their edges as sorted, unique ``int64`` keys ``u * n + v`` (for an
undirected graph only the ``u < v`` half). A key array sorts like the CSR wants (by row, then
column), deduplicates with one ``np.unique`` and costs 8 bytes an edge, so the whole pipeline
from raw samples to ``indptr``/``indices`` is a few sorts of flat arrays.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Protocol, TypedDict

import numpy as np

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph, index_dtype
from pargnn.graph.splits import random_split
from pargnn.graph.synthetic.features import class_features

# Independent random streams per purpose, so that e.g. changing ``features`` leaves the edges as
# they were: the generator for a stream is ``default_rng([stream, seed])``.
STREAM_EDGES = 1
STREAM_FEATURES = 2
STREAM_PERMUTE = 3

#: Edge keys ``u * n + v`` must fit in int64: ``n <= floor(sqrt(2^63 - 1))``.
MAX_NODES = 3_037_000_499


def stream(seed: int, which: int) -> np.random.Generator:
    """The random generator of one purpose (``STREAM_*``) for ``seed``."""
    return np.random.default_rng([which, seed])


@dataclass(frozen=True, kw_only=True)
class SharedParams:
    """The options every generator takes after its own parameters, with their one set of defaults.

    Each generator's parameter dataclass extends this one; its function takes these options as
    ``**options`` (:class:`GraphOptions`) and passes them on, so neither repeats them.

    Attributes:
        sigma: feature noise (``x = mu[label] + sigma * N(0, I)``, ``|mu| ~ 1``).
        seed: one seed for edges, features, permutation and split (each its own stream).
        directed: keep ``u -> v`` only; otherwise both directions are stored.
        permute: relabel the vertices at random (the default keeps the generator's order:
            R-MAT's hubs first, SBM's blocks contiguous).
        train, val: split fractions (the rest is test).

    A subclass is declared with ``repr=False`` so that it keeps the ``__repr__`` here, which
    lists the fields in canonical order like the dataclass one would without inheritance.
    """

    sigma: float = 1.0
    seed: int = 0
    directed: bool = False
    permute: bool = False
    train: float = 0.6
    val: float = 0.2

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in params_dict(self).items())
        return f"{type(self).__qualname__}({items})"


class GraphOptions(TypedDict, total=False):
    """The keyword form of :class:`SharedParams`, typing a generator's ``**options``."""

    sigma: float
    seed: int
    directed: bool
    permute: bool
    train: float
    val: float


class CommonParams(Protocol):
    """What the shared checks and assembly read: the generator's sizes and :class:`SharedParams`."""

    @property
    def nodes(self) -> int: ...
    @property
    def features(self) -> int: ...
    @property
    def sigma(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def directed(self) -> bool: ...
    @property
    def permute(self) -> bool: ...
    @property
    def train(self) -> float: ...
    @property
    def val(self) -> float: ...


# -- validation --------------------------------------------------------------------------------
def fail(who: str, key: str, value: object, must: str) -> DatasetError:
    """A :class:`DatasetError` naming the parameter, its value and what it must be."""
    return DatasetError(f"{who}: {key}={value!r} is invalid: {must}")


def check_int(who: str, key: str, value: object, lo: int, hi: int | None = None) -> None:
    """``value`` is an integer (not a bool) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise fail(who, key, value, "must be an integer")
    number = int(value)
    if number < lo or (hi is not None and number > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise fail(who, key, value, f"must be {bound}")


def check_real(
    who: str, key: str, value: object, lo: float, hi: float | None = None
) -> None:
    """``value`` is a finite real number (not a bool) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise fail(who, key, value, "must be a finite number")
    number = float(value)
    if number < lo or (hi is not None and number > hi):
        bound = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise fail(who, key, value, f"must be {bound}")


def check_bool(who: str, key: str, value: object) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise fail(who, key, value, "must be a boolean")


def check_common(who: str, p: CommonParams) -> None:
    """The checks every generator shares: sizes, seed, feature noise and split fractions."""
    check_int(who, "nodes", p.nodes, 1, MAX_NODES)
    check_int(who, "features", p.features, 1)
    check_int(who, "seed", p.seed, 0)
    check_real(who, "sigma", p.sigma, 0.0)
    check_real(who, "train", p.train, 0.0, 1.0)
    check_real(who, "val", p.val, 0.0, 1.0)
    if p.train + p.val > 1.0 + 1e-9:
        raise fail(who, "val", p.val, f"train + val must be <= 1 (train={p.train!r})")
    if p.train * p.nodes <= 0.5:  # random_split would round the train split down to nothing
        raise fail(who, "train", p.train, f"it puts none of the {p.nodes} vertices in the train "
                   f"split; training needs at least one, so make train * nodes at least 1")
    check_bool(who, "directed", p.directed)
    check_bool(who, "permute", p.permute)


def validate(who: str, p: CommonParams, check_own: Callable[[], None]) -> None:
    """Validate a generator's parameters: the shared checks, ``check_own``, then the floats.

    The shared checks come first, so that the generator's own may rely on ``nodes``.
    """
    check_common(who, p)
    check_own()
    coerce_floats(p)


def coerce_floats(params: object) -> None:
    """Store the ``float`` fields of a frozen parameter dataclass as ``float`` (``10`` -> ``10.0``).

    Call after validation, so that ``rmat(nodes, 10)`` and ``from_spec("...degree=10...")``
    carry identical parameters.
    """
    types = typing.get_type_hints(type(params))
    for f in dataclasses.fields(params):  # type: ignore[arg-type]
        value = getattr(params, f.name)
        if value is not None and float in (types[f.name], *typing.get_args(types[f.name])):
            object.__setattr__(params, f.name, float(value))


# -- naming ------------------------------------------------------------------------------------
def format_value(value: object) -> str:
    """The canonical spelling of a parameter value in a spec (parses back to the same value)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def canonical_name(generator: str, params: object) -> str:
    """``generator:key=value,...`` over the fields in canonical order, leaving out ``None``s."""
    values = params_dict(params)
    return generator + ":" + ",".join(
        f"{k}={format_value(v)}" for k, v in values.items() if v is not None
    )


def params_dict(params: object) -> dict[str, object]:
    """The fields of a parameter dataclass, in canonical order (:func:`param_fields`)."""
    return {f.name: getattr(params, f.name) for f in param_fields(params)}


def param_fields(params: object) -> list[dataclasses.Field[Any]]:
    """A generator's parameter fields: its own in declaration order, then the shared options.

    Inheritance lists :class:`SharedParams`' fields first; names, specs and usage messages put
    them last, after the parameters that say which graph it is.
    """
    assert dataclasses.is_dataclass(params)
    shared = {f.name for f in dataclasses.fields(SharedParams)}
    return sorted(dataclasses.fields(params), key=lambda f: f.name in shared)


# -- block ranges ------------------------------------------------------------------------------
def equal_ranges(n: int, k: int) -> np.ndarray:
    """Starts of ``k`` contiguous ranges covering ``[0, n)``, sizes differing by at most one.

    Returns ``k + 1`` offsets (the first ``n % k`` ranges have one more vertex).
    """
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    starts = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    return starts


def range_labels(starts: np.ndarray) -> np.ndarray:
    """The range index of each vertex, for ranges given by :func:`equal_ranges`."""
    return np.repeat(np.arange(starts.shape[0] - 1, dtype=np.int64), np.diff(starts))


# -- assembling --------------------------------------------------------------------------------
def canonical_keys(u: np.ndarray, v: np.ndarray, n: int, directed: bool) -> np.ndarray:
    """Keys ``u * n + v`` of the edges without self-loops; undirected edges as ``min, max``."""
    keep = u != v
    u, v = u[keep], v[keep]
    if not directed:
        u, v = np.minimum(u, v), np.maximum(u, v)
    keys = u.astype(np.int64, copy=False) * n
    keys += v
    return keys


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` by one sort and a neighbour comparison (sorts ``keys`` in place).

    Faster than ``np.unique`` for int64 keys, whose newer hash-based path is slower here.
    """
    keys.sort()
    if keys.shape[0] < 2:
        return keys
    first = np.empty(keys.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def first_distinct(
    draw: Callable[[int], np.ndarray], target: int, max_rounds: int = 40
) -> tuple[np.ndarray, int]:
    """The first ``target`` distinct keys of a stream of random draws, sorted; and draws made.

    ``draw(m)`` makes ``m`` draws and returns the keys of those that survive (rejection and
    self-loop removal may drop some). The first round draws ``1.125 * target``; each next one
    what is still missing divided by the last round's yield of new distinct keys (times 1.1).
    Keeping the first distinct keys *in draw order* (not any ``target`` of them) makes the result
    exactly "draw until there are ``target`` distinct edges"; for uniform draws that is a uniform
    ``target``-subset. Fewer than ``target`` keys come back when ``max_rounds`` did not suffice
    (the distribution has too few likely keys): the caller says why that is an error.
    """
    keys = np.empty(0, dtype=np.int64)
    order = np.empty(0, dtype=np.int64)  # position of each key's first occurrence
    drawn = kept = 0
    batch = target + target // 8 + 64
    for _ in range(max_rounds):
        if keys.shape[0] >= target:
            break
        new = draw(batch)
        before = keys.shape[0]
        keys, idx = np.unique(np.concatenate((keys, new)), return_index=True)
        order = np.concatenate((order, kept + np.arange(new.shape[0])))[idx]
        kept += new.shape[0]
        drawn += batch
        rate = max(keys.shape[0] - before, 1) / batch  # new distinct keys per draw
        batch = min(int((target - keys.shape[0]) / rate * 1.1) + 64, 4 * target + 1024)
    if keys.shape[0] <= target:
        return keys, drawn
    cut = np.partition(order, target - 1)[target - 1]
    return keys[order <= cut], drawn


def permute_keys(
    keys: np.ndarray, labels: np.ndarray, n: int, directed: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Relabel vertex ``v`` as ``perm[v]`` for a random ``perm``; returns new keys and labels."""
    perm = rng.permutation(n).astype(np.int64)
    u, v = np.divmod(keys, n)
    new_keys = sorted_unique(canonical_keys(perm[u], perm[v], n, directed))
    new_labels = np.empty_like(labels)
    new_labels[perm] = labels
    return new_keys, new_labels


def keys_to_csr(keys: np.ndarray, n: int, directed: bool) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``indptr, indices`` of sorted unique keys; undirected keys are stored both ways."""
    if not directed:
        u, v = np.divmod(keys, n)
        both = np.concatenate((keys, v * n + u))
        del u, v
        both.sort()
        keys = both
    rows, cols = np.divmod(keys, n)
    dtype = index_dtype(n, keys.shape[0])
    indptr = np.zeros(n + 1, dtype=dtype)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols.astype(dtype)


def edge_homophily(indptr: np.ndarray, indices: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of stored edges whose endpoints share a label (1.0 for no edges)."""
    if indices.shape[0] == 0:
        return 1.0
    rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
    return float(np.mean(labels[rows] == labels[indices]))


#: ``draw(rng, starts, labels)`` of a generator: its sorted unique edge keys, drawn from ``rng``,
#: and its entries of the graph's ``meta``.
EdgeDraw = Callable[
    [np.random.Generator, np.ndarray, np.ndarray], tuple[np.ndarray, dict[str, object]]
]


def ranged_graph(who: str, p: CommonParams, classes: int, draw: EdgeDraw) -> Graph:
    """The graph of a generator whose classes are ``classes`` equal contiguous id ranges.

    ``draw`` gets the edge stream of ``p.seed``, the ranges' starts (:func:`equal_ranges`) and
    each vertex's class; the graph is named by the canonical spec of ``p``.
    """
    starts = equal_ranges(p.nodes, classes)
    labels = range_labels(starts)
    keys, meta = draw(stream(p.seed, STREAM_EDGES), starts, labels)
    return assemble(canonical_name(who, p), p, keys, labels, classes, {"generator": who, **meta})


def assemble(
    name: str,
    p: CommonParams,
    keys: np.ndarray,
    labels: np.ndarray,
    classes: int,
    meta: Mapping[str, object],
) -> Graph:
    """Permute if asked, build the CSR, draw features and the split, and make the Graph."""
    n, directed = p.nodes, p.directed
    if p.permute:
        keys, labels = permute_keys(keys, labels, n, directed, stream(p.seed, STREAM_PERMUTE))
    indptr, indices = keys_to_csr(keys, n, directed)
    del keys
    x = class_features(labels, classes, p.features, p.sigma, stream(p.seed, STREAM_FEATURES))
    masks = random_split(labels, p.train, p.val, p.seed)
    return Graph.from_parts(
        name, (indptr, indices, None), x, labels, masks, num_classes=classes,
        meta={
            **meta,
            "params": params_dict(p),
            "edge_homophily": edge_homophily(indptr, indices, labels),
        },
    )
