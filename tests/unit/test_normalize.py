"""Adjacency normalisations against their dense definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pargnn.errors import ConfigError
from pargnn.graph.normalize import (
    add_self_loops,
    gcn_normalize,
    mean_normalize,
    normalize_adjacency,
    row_normalize_features,
)


def directed(n: int = 12, seed: int = 0) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, n)) < 0.25).astype(np.float64)
    dense[-2:, :] = 0  # two vertices without out-edges...
    dense[:, -2:] = 0  # ...and without in-edges
    dense[0, 0] = 1.0  # one existing self-loop
    return sp.csr_array(dense)


def test_self_loops_are_added_only_where_missing() -> None:
    a = directed()
    with_loops = add_self_loops(a).toarray()
    np.testing.assert_array_equal(np.diag(with_loops), np.ones(12))
    off = ~np.eye(12, dtype=bool)
    np.testing.assert_array_equal(with_loops[off], a.toarray()[off])


def test_gcn_normalisation_matches_dense_formula() -> None:
    a = directed().toarray()
    a_hat = a.copy()
    np.fill_diagonal(a_hat, 1.0)
    d_out, d_in = a_hat.sum(axis=1), a_hat.sum(axis=0)
    expected = np.diag(d_out**-0.5) @ a_hat @ np.diag(d_in**-0.5)
    np.testing.assert_allclose(gcn_normalize(directed()).toarray(), expected)


def test_gcn_normalisation_is_kipf_on_symmetric_graphs() -> None:
    a = directed().toarray()
    sym = sp.csr_array(np.maximum(a, a.T))
    out = gcn_normalize(sym).toarray()
    np.testing.assert_allclose(out, out.T)


def test_mean_normalisation_averages_in_neighbours() -> None:
    a = directed()
    h = np.random.default_rng(1).random((12, 3))
    z = mean_normalize(a).T @ h
    dense = a.toarray()
    for j in range(12):
        sources = np.flatnonzero(dense[:, j])
        expected = h[sources].mean(axis=0) if sources.size else np.zeros(3)
        np.testing.assert_allclose(z[j], expected)


def test_unknown_normalisation_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="gcn, mean, sum"):
        normalize_adjacency(directed(), "symmetric")


def test_row_normalised_features_sum_to_one_except_zero_rows() -> None:
    x = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 2.0]], dtype=np.float32)
    out = row_normalize_features(x)
    np.testing.assert_allclose(out.sum(axis=1), [1.0, 0.0, 1.0])
    assert out.dtype == np.float32
