"""Attention kernels against dense float64 definitions, gradients included."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from pargnn.spmm.attention import EdgeStructure, edge_scores, edge_softmax, weighted_spmm


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
