"""How fast this graph's sparse products run here, against the matrices calibration timed.

``pargnn calibrate`` times SpMM on matrices whose non-zeros sit at uniform random columns:
every row gathers feature rows from all over memory. Real graphs are kinder. A community
structure in the vertex order (or a METIS partition, which makes each part's rows a
community) keeps a row's neighbours close together, and a power-law graph sends most
gathers to a few hub rows that stay in cache. On this machine that makes the products of a
METIS-ordered SBM or an R-MAT graph two to three times faster per non-zero than calibration
says.

The planner therefore measures it, on the machine it plans for (a calibrated CPU profile):
the rows of the graph in a candidate's order (the input order for 1D-3D, the partition's
order for the sparsity-aware algorithms, each part on its own: :func:`part_factors`), up
to :data:`SAMPLE_NNZ` non-zeros of them, are multiplied by a dense block, and so is a
matrix with the same rows and non-zeros per row at uniform random columns. The ratio of
the two times scales the profile's SpMM and SDDMM rates for that candidate (for each
rank, its part's). Both products run now, one after the other, so the load of the
machine cancels out of the ratio.
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch

SAMPLE_NNZ = 400_000  # non-zeros timed per order: tens of milliseconds a product
MIN_PART_NNZ = 25_000  # per part of a partition, however many parts
WIDTH = 64
MIN_REPEATS, MAX_REPEATS = 5, 200
TARGET_S = 0.05  # per probe: both products, all repeats


def _torch_csr(matrix: sp.csr_array) -> torch.Tensor:
    with warnings.catch_warnings():  # "CSR support is in beta": nothing a user can act on
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.ones(matrix.nnz, dtype=torch.float32), matrix.shape, check_invariants=False)


def _time_ratio(first: torch.Tensor, second: torch.Tensor, x: torch.Tensor) -> float:
    """Median time of ``first @ x`` over that of ``second @ x``, the two alternating (so that
    a spell of load elsewhere falls on both), :data:`MIN_REPEATS` pairs at least and more
    until they have taken :data:`TARGET_S`: a product of a part can take well under a
    millisecond, where a single timer tick or preemption would decide a short series."""
    times: tuple[list[float], list[float]] = ([], [])
    spent = 0.0
    while len(times[0]) < MIN_REPEATS or (spent < TARGET_S and len(times[0]) < MAX_REPEATS):
        for matrix, out in zip((first, second), times, strict=True):
            start = time.perf_counter()
            torch.sparse.mm(matrix, x)
            out.append(time.perf_counter() - start)
            spent += out[-1]
    return statistics.median(times[0]) / statistics.median(times[1])


def sample_rows(matrix: sp.csr_array, order: np.ndarray | None, start: int = 0,
                nnz: int = SAMPLE_NNZ) -> sp.csr_array:
    """The rows of ``matrix`` in ``order`` from position ``start`` on, up to ``nnz``
    non-zeros (rows and columns renumbered by ``order``), with sorted column indices."""
    n = matrix.shape[0]
    order = np.arange(n) if order is None else order
    degrees = np.diff(matrix.indptr)[order[start:]]
    rows = int(np.searchsorted(np.cumsum(degrees), nnz, side="right"))
    sample = matrix[order[start: start + max(rows, 1)]]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    sample = sp.csr_array((sample.data, position[sample.indices], sample.indptr),
                          shape=sample.shape)
    sample.sort_indices()
    return sample


def scattered_like(sample: sp.csr_array, seed: int = 0) -> sp.csr_array:
    """The same rows and non-zeros per row as ``sample``, at uniform random columns."""
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, sample.shape[1], sample.nnz)
    out = sp.csr_array((sample.data, columns, sample.indptr), shape=sample.shape)
    out.sort_indices()
    return out


def locality_factor(matrix: sp.csr_array, order: np.ndarray | None = None, start: int = 0,
                    nnz: int = SAMPLE_NNZ, x: torch.Tensor | None = None) -> float:
    """Seconds per unit of SpMM on ``matrix``'s rows in ``order`` (from position ``start``,
    up to ``nnz`` non-zeros) over the same on uniform random columns (below 1: the graph is
    faster than calibration's matrices). ``x``: the dense operand, ``n x`` :data:`WIDTH`
    (made here when not given; its values do not matter)."""
    sample = sample_rows(matrix, order, start, nnz)
    if sample.nnz == 0:
        return 1.0
    x = torch.ones(matrix.shape[1], WIDTH) if x is None else x
    graph, scattered = _torch_csr(sample), _torch_csr(scattered_like(sample))
    torch.sparse.mm(graph, x)  # warm both up
    torch.sparse.mm(scattered, x)
    return _time_ratio(graph, scattered, x)


def part_factors(matrix: sp.csr_array, order: np.ndarray, offsets: np.ndarray
                 ) -> tuple[float, ...]:
    """:func:`locality_factor` of each part's own rows (part ``k``: positions ``offsets[k]``
    to ``offsets[k + 1]`` of ``order``), :data:`SAMPLE_NNZ` non-zeros shared among the parts.

    Per part, because a partition of a power-law graph is uneven in kind as well as in size:
    the part that holds the hubs has the most non-zeros, so it decides the step, and its
    rows gather the same few feature rows over and over, from cache.
    """
    parts = len(offsets) - 1
    budget = max(SAMPLE_NNZ // max(parts, 1), MIN_PART_NNZ)
    x = torch.ones(matrix.shape[1], WIDTH)  # once: at a million vertices it is 256 MB
    out = []
    for k in range(parts):
        if offsets[k + 1] == offsets[k]:
            out.append(1.0)
            continue
        nnz = min(budget, _part_nnz(matrix, order, offsets, k))  # within the part
        out.append(locality_factor(matrix, order, int(offsets[k]), nnz, x))
    return tuple(out)


def _part_nnz(matrix: sp.csr_array, order: np.ndarray, offsets: np.ndarray, k: int) -> int:
    degrees = np.diff(matrix.indptr)[order[int(offsets[k]): int(offsets[k + 1])]]
    return int(degrees.sum())
