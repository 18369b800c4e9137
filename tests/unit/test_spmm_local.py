"""The local SpMM against a dense float64 reference, including its gradient."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from pargnn.ops.sparse import SparseOperator, spmm


def random_directed(n: int, nnz: int, seed: int, isolated: int = 3) -> sp.csr_array:
    """A random directed weighted graph whose last ``isolated`` vertices have no edges."""
    rng = np.random.default_rng(seed)
    m = n - isolated
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, m, nnz)
    a = sp.csr_array((rng.random(nnz) + 0.1, (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    return a


def test_forward_is_a_transpose_product() -> None:
    a = random_directed(37, 150, seed=1)
    op = SparseOperator.from_scipy(a, dtype=torch.float64)
    h = torch.randn(37, 5, dtype=torch.float64)
    expected = torch.from_numpy(a.toarray()).T @ h
    torch.testing.assert_close(spmm(op, h), expected)


def test_gradcheck_on_directed_graph_with_isolated_vertices() -> None:
    a = random_directed(23, 80, seed=2, isolated=4)
    assert (a.sum(axis=0)[-4:] == 0).all() and (a.sum(axis=1)[-4:] == 0).all()
    op = SparseOperator.from_scipy(a, dtype=torch.float64)
    h = torch.randn(23, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: spmm(op, x), (h,))


def test_gradient_matches_dense_reference() -> None:
    a = random_directed(31, 120, seed=3)
    op = SparseOperator.from_scipy(a, dtype=torch.float64)
    dense = torch.from_numpy(a.toarray())
    h1 = torch.randn(31, 4, dtype=torch.float64, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_(True)
    weight = torch.randn(31, 4, dtype=torch.float64)
    (spmm(op, h1) * weight).sum().backward()
    ((dense.T @ h2) * weight).sum().backward()
    assert h1.grad is not None and h2.grad is not None
    torch.testing.assert_close(h1.grad, h2.grad)
    torch.testing.assert_close(h1.grad, dense @ weight)


def test_rectangular_block_shapes() -> None:
    rng = np.random.default_rng(4)
    block = sp.random_array((6, 9), density=0.3, rng=rng, format="csr")
    op = SparseOperator.from_scipy(block, dtype=torch.float64)
    assert op.shape == (6, 9)
    out = spmm(op, torch.randn(6, 2, dtype=torch.float64))
    assert out.shape == (9, 2)


def test_index_dtype_is_int32_when_it_fits() -> None:
    op = SparseOperator.from_scipy(random_directed(10, 20, seed=5))
    assert op.a.crow_indices().dtype == torch.int32
    assert op.at.col_indices().dtype == torch.int32
