"""Attention kernels against dense float64 definitions, gradients included."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pargnn.ops.attention import EdgeStructure, edge_scores, edge_softmax, weighted_spmm


def structure_of(matrix: sp.csr_array) -> EdgeStructure:
    m = sp.csr_array(matrix)
    m.sort_indices()
    return EdgeStructure.from_csr(torch.from_numpy(m.indptr.astype(np.int64)),
                                  torch.from_numpy(m.indices.astype(np.int64)), m.shape[1])


def random_block(n_dst: int = 13, n_src: int = 11, seed: int = 0) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_dst, n_src)) < 0.3).astype(float)
    dense[2] = 0  # a destination without in-edges
    return sp.csr_array(dense)


def dense_attention(mask: torch.Tensor, s_src: torch.Tensor, s_dst: torch.Tensor,
                    x: torch.Tensor) -> torch.Tensor:
    out = []
    for h in range(s_src.shape[1]):
        e = torch.nn.functional.leaky_relu(s_dst[:, h, None] + s_src[None, :, h], 0.2)
        e = e.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=1).nan_to_num(0.0)
        out.append(alpha @ x[:, h])
    return torch.stack(out, dim=1)


def test_attention_matches_dense_softmax_and_gradients() -> None:
    block = random_block()
    st = structure_of(block)
    mask = torch.from_numpy(block.toarray() != 0)
    g = torch.Generator().manual_seed(1)
    s_src = torch.randn(11, 3, dtype=torch.float64, generator=g, requires_grad=True)
    s_dst = torch.randn(13, 3, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(11, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    alpha = edge_softmax(st, edge_scores(st, s_src, s_dst))
    out = weighted_spmm(st, alpha, x)
    leaves = (s_src, s_dst, x)
    copies = [t.detach().clone().requires_grad_(True) for t in leaves]
    expected = dense_attention(mask, *copies)
    torch.testing.assert_close(out, expected)
    assert torch.all(out[2] == 0), "a vertex without in-edges aggregates to zero"
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    (expected * weight).sum().backward()
    for got, want in zip(leaves, copies, strict=True):
        assert got.grad is not None and want.grad is not None
        torch.testing.assert_close(got.grad, want.grad)


def test_weighted_spmm_gradcheck() -> None:
    st = structure_of(random_block(7, 9, seed=3))
    weights = torch.rand(st.nnz, 2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(9, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, v: weighted_spmm(st, w, v), (weights, x))


def test_softmax_is_stable_for_huge_scores() -> None:
    st = structure_of(random_block())
    scores = torch.full((st.nnz, 1), 1e4, dtype=torch.float64)
    alpha = edge_softmax(st, scores)
    assert torch.isfinite(alpha).all()


def structure_with_index(matrix: sp.csr_array, index: torch.dtype) -> EdgeStructure:
    m = sp.csr_array(matrix)
    m.sort_indices()
    return EdgeStructure.from_csr(torch.from_numpy(m.indptr).to(index),
                                  torch.from_numpy(m.indices).to(index), m.shape[1])


def attention_and_grads(st: EdgeStructure, leaves: tuple[torch.Tensor, ...],
                        weight: torch.Tensor) -> list[torch.Tensor]:
    s_src, s_dst, x = leaves
    out = weighted_spmm(st, edge_softmax(st, edge_scores(st, s_src, s_dst)), x)
    grads = torch.autograd.grad((out * weight).sum(), leaves)
    return [out.detach(), *grads]


def dense_attention_and_grads(mask: torch.Tensor, leaves: tuple[torch.Tensor, ...],
                              weight: torch.Tensor) -> list[torch.Tensor]:
    out = dense_attention(mask, *leaves)
    grads = torch.autograd.grad((out * weight).sum(), leaves)
    return [out.detach(), *grads]


def random_leaves(n_dst: int, n_src: int, heads: int, width: int, seed: int,
                  dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, dtype=dtype, generator=g).requires_grad_(True)
                 for shape in ((n_src, heads), (n_dst, heads), (n_src, heads, width)))


@pytest.mark.parametrize("index", [torch.int32, torch.int64])
@pytest.mark.parametrize("heads", [1, 2, 5])
def test_all_heads_at_once_match_dense_per_head(heads: int, index: torch.dtype) -> None:
    block = random_block(17, 12, seed=heads)
    st = structure_with_index(block, index)
    mask = torch.from_numpy(block.toarray() != 0)
    leaves = random_leaves(17, 12, heads, 3, seed=heads)
    weight = torch.randn(17, heads, 3, dtype=torch.float64)
    got = attention_and_grads(st, leaves, weight)
    want = dense_attention_and_grads(mask, leaves, weight)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_layers_with_different_heads_share_one_structure() -> None:
    """Two attentions on one structure, the second's forward between the first's forward and
    backward (as in a 2-layer GAT), in two dtypes: nothing leaks between calls."""
    block = random_block(15, 15, seed=7)
    st = structure_with_index(block, torch.int32)
    mask = torch.from_numpy(block.toarray() != 0)
    for dtype in (torch.float32, torch.float64):
        first, second = random_leaves(15, 15, 4, 3, 1, dtype), random_leaves(15, 15, 1, 2, 2, dtype)
        out1 = weighted_spmm(st, edge_softmax(st, edge_scores(st, *first[:2])), first[2])
        out2 = weighted_spmm(st, edge_softmax(st, edge_scores(st, *second[:2])), second[2])
        grads = torch.autograd.grad(out1.sum() + (out2 ** 2).sum(), first + second)
        want1 = dense_attention(mask, *first)
        want2 = dense_attention(mask, *second)
        expected = torch.autograd.grad(want1.sum() + (want2 ** 2).sum(), first + second)
        tolerance = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {}
        torch.testing.assert_close(out1, want1, **tolerance)
        torch.testing.assert_close(out2, want2, **tolerance)
        for got, want in zip(grads, expected, strict=True):
            torch.testing.assert_close(got, want, **tolerance)


@pytest.mark.parametrize("negative_slope", [0.2, 0.0, -0.3])
def test_edge_scores_gradcheck(negative_slope: float) -> None:
    st = structure_of(random_block(9, 8, seed=4))
    s_src, s_dst, _ = random_leaves(9, 8, 3, 1, seed=5)
    assert torch.autograd.gradcheck(
        lambda a, b: edge_scores(st, a, b, negative_slope), (s_src, s_dst))


def test_edge_softmax_gradcheck() -> None:
    st = structure_of(random_block(9, 8, seed=6))  # row 2 has no in-edges
    scores = torch.randn(st.nnz, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: edge_softmax(st, s), (scores,))


@pytest.mark.parametrize("heads", [1, 3])
def test_weighted_spmm_gradcheck_int32_indices(heads: int) -> None:
    st = structure_with_index(random_block(6, 8, seed=8), torch.int32)
    weights = torch.rand(st.nnz, heads, dtype=torch.float64, requires_grad=True)
    x = torch.randn(8, heads, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, v: weighted_spmm(st, w, v), (weights, x))


def test_block_without_edges_gives_zeros_not_nan() -> None:
    st = EdgeStructure.from_csr(torch.zeros(4, dtype=torch.int64),
                                torch.zeros(0, dtype=torch.int64), 5)
    s_src, s_dst, x = random_leaves(3, 5, 2, 4, seed=9)
    out = weighted_spmm(st, edge_softmax(st, edge_scores(st, s_src, s_dst)), x)
    grads = torch.autograd.grad(out.sum(), (s_src, s_dst, x))
    assert out.shape == (3, 2, 4) and torch.all(out == 0)
    for grad in grads:
        assert torch.all(grad == 0)
