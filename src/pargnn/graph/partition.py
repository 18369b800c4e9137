"""Vertex partitions: which process owns which vertices, and what crosses between them.

The sparsity-aware algorithms send each process only the rows its block of ``A^T`` touches
(its *halo*), so the fewer edges cross parts, the less they send. A partition here is a
permutation that makes every part a contiguous range of positions (``order``, ``offsets``),
so the algorithms keep their block layout and only the block sizes change.

* ``block``: contiguous, balanced ranges of the input order (what broadcast 1D uses);
* ``random``: a seeded random assignment to balanced parts (the baseline a graph's structure
  is measured against);
* ``metis``: METIS's k-way edge-cut minimisation (through pymetis) on the symmetrised graph,
  with balanced vertex counts, or balanced degree sums with ``weights="degree"``.

:func:`partition_stats` reports balance, edge cut and halo sizes. A partition can be cached in
a folder, keyed by a hash of the graph's structure and the settings (METIS on a large graph
takes a while; the same run on the same graph should not pay it twice).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pargnn.errors import ConfigError

PARTITIONERS = ("block", "random", "metis")
VERTEX_WEIGHTS = ("none", "degree")


@dataclass(frozen=True)
class Partition:
    """Parts as contiguous position ranges: position ``v`` holds input vertex ``order[v]``,
    part ``k`` holds positions ``offsets[k] .. offsets[k + 1] - 1``."""

    method: str
    order: np.ndarray
    offsets: np.ndarray

    @property
    def parts(self) -> int:
        return len(self.offsets) - 1

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class PartitionStats:
    """How good a partition is for the sparsity-aware algorithms.

    ``balance`` is the largest part over the mean; ``edge_cut`` the fraction of non-zeros of
    ``A`` whose two ends lie in different parts; ``halo[k]`` the number of distinct vertices
    of other parts that part ``k``'s vertices receive from (the rows it must be sent).
    """

    sizes: tuple[int, ...]
    balance: float
    edge_cut: float
    halo: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {"sizes": list(self.sizes), "balance": self.balance, "edge_cut": self.edge_cut,
                "halo": list(self.halo)}


def from_assignment(method: str, assignment: np.ndarray, parts: int) -> Partition:
    """The partition whose part ``k`` is ``{v : assignment[v] == k}`` (input order kept within
    a part)."""
    order = np.argsort(assignment, kind="stable")
    counts = np.bincount(assignment, minlength=parts)
    return Partition(method, order, np.concatenate([[0], np.cumsum(counts)]))


def block_partition(n: int, parts: int) -> Partition:
    base, extra = divmod(n, parts)
    sizes = np.full(parts, base, dtype=np.int64)
    sizes[:extra] += 1
    return Partition("block", np.arange(n), np.concatenate([[0], np.cumsum(sizes)]))


def random_partition(n: int, parts: int, seed: int) -> Partition:
    block = block_partition(n, parts)
    order = np.random.default_rng([seed, 0xBA1]).permutation(n)
    return Partition("random", order, block.offsets)


def metis_partition(adjacency: sp.csr_array, parts: int, seed: int,
                    weights: str = "none") -> Partition:
    """METIS k-way on ``A + A^T`` without self-loops (METIS wants a symmetric simple graph)."""
    import pymetis

    n = adjacency.shape[0]
    if parts == 1:
        return Partition("metis", np.arange(n), np.array([0, n]))
    pattern = sp.csr_array(adjacency, dtype=np.int8, copy=True)
    pattern.data[:] = 1
    symmetric = sp.csr_array(pattern + pattern.T)
    symmetric.setdiag(0)
    symmetric.eliminate_zeros()
    options = pymetis.Options(seed=seed)
    vweights = None
    if weights == "degree":
        vweights = (np.diff(symmetric.indptr) + 1).astype(np.int64)
    adjacency_lists = pymetis.CSRAdjacency(symmetric.indptr, symmetric.indices)
    _, membership = pymetis.part_graph(parts, adjacency_lists, vweights=vweights,
                                       options=options)
    return from_assignment("metis", np.asarray(membership, dtype=np.int64), parts)


def graph_key(adjacency: sp.csr_array) -> str:
    """A hash of the graph's structure (shape and non-zero pattern)."""
    digest = hashlib.sha256()
    digest.update(np.array(adjacency.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(adjacency.indptr, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(adjacency.indices, dtype=np.int64).tobytes())
    return digest.hexdigest()[:24]


def partition_graph(adjacency: sp.csr_array, parts: int, method: str = "metis", seed: int = 0,
                    weights: str = "none", cache_dir: str | Path | None = None) -> Partition:
    """Partition the vertices of ``adjacency`` into ``parts`` contiguous parts.

    Raises:
        ConfigError: an unknown method or weighting, or more parts than vertices.
    """
    if method not in PARTITIONERS:
        raise ConfigError(f"--partition {method!r} is not one of: {', '.join(PARTITIONERS)}")
    if weights not in VERTEX_WEIGHTS:
        raise ConfigError(f"partition weights {weights!r} are not one of: "
                          f"{', '.join(VERTEX_WEIGHTS)}")
    n = adjacency.shape[0]
    if parts > n:
        raise ConfigError(f"cannot cut {n} vertices into {parts} parts; use fewer processes")
    if method == "block":
        return block_partition(n, parts)
    if method == "random":
        return random_partition(n, parts, seed)
    cached = None if cache_dir is None else cached_partition(adjacency, parts, method, seed,
                                                             weights, cache_dir)
    if cached is not None:
        return cached
    partition = metis_partition(adjacency, parts, seed, weights)
    if cache_dir is not None:
        _save_atomic(_cache_path(adjacency, parts, method, seed, weights, cache_dir), partition)
    return partition


def _cache_path(adjacency: sp.csr_array, parts: int, method: str, seed: int, weights: str,
                cache_dir: str | Path) -> Path:
    name = f"partition-{graph_key(adjacency)}-{method}-{parts}-{seed}-{weights}.npz"
    return Path(cache_dir) / name


def cached_partition(adjacency: sp.csr_array, parts: int, method: str, seed: int,
                     weights: str, cache_dir: str | Path) -> Partition | None:
    """The partition kept in ``cache_dir`` for these settings, or ``None``."""
    path = _cache_path(adjacency, parts, method, seed, weights, cache_dir)
    if not path.exists():
        return None
    with np.load(path) as cached:
        return Partition(method, cached["order"], cached["offsets"])


def _save_atomic(path: Path, partition: Partition) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, order=partition.order, offsets=partition.offsets)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def halo_matrix(at: sp.csr_array, offsets: np.ndarray) -> np.ndarray:
    """``need[i, k]``: distinct vertices of part ``k`` that the destinations of part ``i``
    receive from (columns of ``A^T[P_i, P_k]`` with a non-zero); the diagonal is zero.

    ``at`` is ``A^T`` in partition order (rows destinations, columns sources).
    """
    parts = len(offsets) - 1
    part_of = np.repeat(np.arange(parts), np.diff(offsets))
    return part_matrices(at, part_of, parts)[0]


def part_matrices(at: sp.csr_array, part_of: np.ndarray, parts: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``need`` as in :func:`halo_matrix`, and ``nnz[i, k]``, the non-zeros of ``A^T`` from
    part ``k`` into part ``i``, for any vertex order: ``part_of[v]`` is vertex ``v``'s part.

    A pass over the crossing non-zeros and one over the vertices per part (no sorting), so that the
    planner can price a partition of a large graph without reordering it.
    """
    n = at.shape[1]
    rows_of = np.repeat(part_of, np.diff(at.indptr))  # destination part of each non-zero
    sources = part_of[at.indices]
    nnz = np.bincount(rows_of * parts + sources, minlength=parts * parts).reshape(parts, parts)
    need = np.zeros((parts, parts), dtype=np.int64)
    cross = rows_of != sources
    crossing_rows, crossing_cols = rows_of[cross], at.indices[cross]
    seen = np.zeros(n, dtype=bool)
    for i in range(parts):
        cols = crossing_cols[crossing_rows == i]
        seen[cols] = True
        need[i] = np.bincount(part_of[np.flatnonzero(seen)], minlength=parts)
        seen[cols] = False
    return need, nnz


def partition_stats(adjacency: sp.csr_array, partition: Partition) -> PartitionStats:
    """Balance, edge cut and halo sizes of ``partition`` on ``adjacency`` (input order)."""
    position = np.empty_like(partition.order)
    position[partition.order] = np.arange(len(partition.order))
    part_of_position = np.repeat(np.arange(partition.parts), partition.sizes())
    coo = adjacency.tocoo()
    src_part = part_of_position[position[coo.row]]
    dst_part = part_of_position[position[coo.col]]
    cut = float(np.count_nonzero(src_part != dst_part)) / max(coo.nnz, 1)
    permuted = sp.csr_array(adjacency[partition.order][:, partition.order])
    at = sp.csr_array(permuted.T)
    halo = halo_matrix(at, partition.offsets).sum(axis=1)
    sizes = partition.sizes()
    return PartitionStats(tuple(int(s) for s in sizes), float(sizes.max() / sizes.mean()), cut,
                          tuple(int(h) for h in halo))
