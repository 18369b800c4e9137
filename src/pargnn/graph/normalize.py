"""Adjacency and feature normalisation as free functions.

Normalisation is a property of the model (GCN wants the symmetric form, GraphSAGE the mean),
not of the graph or of a layer, so it lives here, where the trainer applies it once before the
adjacency is distributed. Each function takes and returns a scipy CSR array and never densifies.

For a directed adjacency ``A`` (row ``i`` = out-edges of ``i``) a layer aggregates ``A^T H``:
vertex ``j`` sums over its in-neighbours ``i``. With ``d_out = A 1`` (row sums) and
``d_in = A^T 1`` (column sums) of the matrix being normalised:

* ``gcn``:  ``D_out^{-1/2} (A + I) D_in^{-1/2}``; for a symmetric ``A`` this is Kipf & Welling's
  ``D^{-1/2} (A + I) D^{-1/2}``, so ``(A^T H)_j = sum_i H_i / sqrt(d_out(i) d_in(j))``.
* ``mean``: ``A D_in^{-1}``, so ``(A^T H)_j`` is the mean of ``H`` over ``j``'s in-neighbours
  (the "row" normalisation of the aggregation operator ``A^T``); a vertex with no in-edge
  aggregates to zero.
* ``sum``:  ``A`` unchanged (GIN's sum aggregation).
* ``loops``: the structure of ``A + I`` with unit values (graph attention learns the weights).
* ``sym``: ``D_out^{-1/2} A D_in^{-1/2}`` without self-loops (label propagation's operator,
  Zhou et al. 2004).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from pargnn.errors import ConfigError

Normalization = Literal["gcn", "mean", "sum", "loops", "sym"]
NORMALIZATIONS: tuple[Normalization, ...] = ("gcn", "mean", "sum", "loops", "sym")


def add_self_loops(adj: sp.csr_array, value: float = 1.0) -> sp.csr_array:
    """``A + value * I`` on the vertices that have no self-loop yet; existing ones are kept."""
    n = adj.shape[0]
    has_loop = np.zeros(n, dtype=bool)
    coo = adj.tocoo()
    has_loop[coo.row[coo.row == coo.col]] = True
    missing = np.flatnonzero(~has_loop)
    loops = sp.csr_array(
        (np.full(missing.shape[0], value, dtype=adj.dtype), (missing, missing)), shape=(n, n)
    )
    return _canonical(adj + loops)


def gcn_normalize(adj: sp.csr_array, self_loops: bool = True) -> sp.csr_array:
    """``D_out^{-1/2} (A + I) D_in^{-1/2}`` (the symmetric GCN normalisation)."""
    a = add_self_loops(adj) if self_loops else adj
    d_out = np.asarray(a.sum(axis=1)).ravel()
    d_in = np.asarray(a.sum(axis=0)).ravel()
    left = sp.diags_array(_inverse_sqrt(d_out))
    right = sp.diags_array(_inverse_sqrt(d_in))
    return _canonical(left @ a @ right)


def mean_normalize(adj: sp.csr_array) -> sp.csr_array:
    """``A D_in^{-1}``: aggregation with ``A^T`` averages over in-neighbours."""
    d_in = np.asarray(adj.sum(axis=0)).ravel()
    inv = np.divide(1.0, d_in, out=np.zeros_like(d_in, dtype=np.float64), where=d_in != 0)
    return _canonical(adj @ sp.diags_array(inv))


def adds_self_loops(kind: str) -> bool:
    """Whether normalisation ``kind`` puts ``I`` into the operator (its pattern is ``A + I``)."""
    return kind in ("gcn", "loops")


def normalize_adjacency(adj: sp.csr_array, kind: str) -> sp.csr_array:
    """Dispatch on a normalisation name (one of :data:`NORMALIZATIONS`)."""
    if kind == "gcn":
        return gcn_normalize(adj)
    if kind == "sym":
        return gcn_normalize(adj, self_loops=False)
    if kind == "mean":
        return mean_normalize(adj)
    if kind == "sum":
        return _canonical(adj)
    if kind == "loops":  # the structure of A + I, for attention (the values are learned)
        ones = sp.csr_array((np.ones(adj.nnz), adj.indices, adj.indptr), shape=adj.shape)
        return add_self_loops(ones)
    raise ConfigError(f"unknown normalisation {kind!r}; choose one of {', '.join(NORMALIZATIONS)}")


def row_normalize_features(x: np.ndarray) -> np.ndarray:
    """Scale each row to sum to one (rows summing to zero are left as they are).

    The classic preprocessing for bag-of-words features (Kipf & Welling; PyG's
    ``NormalizeFeatures``).
    """
    sums = x.sum(axis=1, keepdims=True)
    safe = np.where(sums == 0, 1.0, sums)
    return (x / safe).astype(x.dtype, copy=False)


def _inverse_sqrt(d: np.ndarray) -> np.ndarray:
    out = np.zeros_like(d, dtype=np.float64)
    np.divide(1.0, np.sqrt(d, where=d > 0, out=np.zeros_like(out)), out=out, where=d > 0)
    return out


def _canonical(a: sp.sparray) -> sp.csr_array:
    csr = sp.csr_array(a)
    csr.sum_duplicates()
    csr.sort_indices()
    return csr
