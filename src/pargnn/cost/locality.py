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
order for the sparsity-aware algorithms), up to :data:`SAMPLE_NNZ` non-zeros of them, are
multiplied by a dense block, and so is a matrix with the same rows and non-zeros per row at
uniform random columns. The ratio of the two times scales the profile's SpMM and SDDMM
rates for that candidate. Both products run now, one after the other, so the load of the
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
WIDTH = 64
REPEATS = 5


def _torch_csr(matrix: sp.csr_array) -> torch.Tensor:
    with warnings.catch_warnings():  # "CSR support is in beta": nothing a user can act on
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.ones(matrix.nnz, dtype=torch.float32), matrix.shape, check_invariants=False)


def _median_seconds(matrix: torch.Tensor, x: torch.Tensor) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        torch.sparse.mm(matrix, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sample_rows(matrix: sp.csr_array, order: np.ndarray | None) -> sp.csr_array:
    """The first rows of ``matrix`` in ``order`` (rows and columns renumbered by it), up to
    :data:`SAMPLE_NNZ` non-zeros, with sorted column indices."""
    n = matrix.shape[0]
    if order is None:
        rows = int(np.searchsorted(matrix.indptr, SAMPLE_NNZ, side="right")) - 1
        sample = matrix[: max(rows, 1)]
    else:
        degrees = np.diff(matrix.indptr)[order]
        rows = int(np.searchsorted(np.cumsum(degrees), SAMPLE_NNZ, side="right"))
        sample = matrix[order[: max(rows, 1)]]
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        sample = sp.csr_array((sample.data, position[sample.indices], sample.indptr),
                              shape=sample.shape)
    sample = sp.csr_array(sample)
    sample.sort_indices()
    return sample


def scattered_like(sample: sp.csr_array, seed: int = 0) -> sp.csr_array:
    """The same rows and non-zeros per row as ``sample``, at uniform random columns."""
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, sample.shape[1], sample.nnz)
    out = sp.csr_array((sample.data, columns, sample.indptr), shape=sample.shape)
    out.sort_indices()
    return out


def locality_factor(matrix: sp.csr_array, order: np.ndarray | None = None) -> float:
    """Seconds per unit of SpMM on ``matrix``'s rows in ``order`` over the same on uniform
    random columns (below 1: the graph is faster than calibration's matrices)."""
    sample = sample_rows(matrix, order)
    if sample.nnz == 0:
        return 1.0
    x = torch.rand(matrix.shape[1], WIDTH, generator=torch.Generator().manual_seed(0))
    graph, scattered = _torch_csr(sample), _torch_csr(scattered_like(sample))
    torch.sparse.mm(graph, x)  # warm both up
    torch.sparse.mm(scattered, x)
    return _median_seconds(graph, x) / _median_seconds(scattered, x)
