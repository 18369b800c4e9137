"""The contract's rectangular operator: a block of ``m`` destinations over ``n >= m`` sources
(destinations first), as a sampled layer or a pipeline chunk has it.

Two float64 references: the dense formulas of each layer, and the same block embedded in a
square operator (its other columns empty), whose first ``m`` output rows must be the block's,
with the same loss and every gradient -- dropout on, keyed by the sources' global ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.single import SingleProcess
from pargnn.nn.models import MODELS
from pargnn.ops.sparse import SparseOperator

N, M, FEATURES, CLASSES = 23, 9, 6, 4


def bipartite_block(seed: int = 3) -> sp.csr_array:
    """``A`` of a block: ``N`` sources by ``M`` destinations, a source ``i < M`` being the
    destination ``i`` too; every destination has its self-loop and a few in-neighbours,
    one has none but itself."""
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, N, 60), rng.integers(0, M - 1, 60)
    block = sp.coo_array((rng.uniform(0.2, 1.0, 60), (rows, cols)), shape=(N, M))
    block = sp.csr_array(block + sp.coo_array((np.ones(M), (np.arange(M), np.arange(M))),
                                              shape=(N, M)))
    block.sum_duplicates()
    block.sort_indices()
    return block


def data(rows: int, seed: int = 5) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    ids = torch.from_numpy(rng.permutation(1000)[:N])  # global ids: any, as in a sample
    labels = torch.from_numpy(rng.integers(0, CLASSES, N))
    train = torch.zeros(N, dtype=torch.bool)
    train[: M - 2] = True
    return {"features": torch.from_numpy(rng.standard_normal((N, FEATURES))),
            "labels": labels[:rows], "train": train[:rows], "ids": ids}


def algorithm(block: sp.csr_array, rows: int) -> SingleProcess:
    """The single-process algorithm on ``block`` with labels and masks of ``rows`` rows."""
    d = data(rows)
    none = torch.zeros(rows, dtype=torch.bool)
    local = LocalData(features=d["features"], labels=d["labels"], train_mask=d["train"],
                      val_mask=none, test_mask=none.clone(), row_ids=d["ids"],
                      feature_ids=torch.arange(FEATURES))
    return SingleProcess(SparseOperator.from_scipy(block, torch.float64), local, vertices=1000)


def embedded(block: sp.csr_array) -> sp.csr_array:
    """The block as the first ``M`` columns of an ``N x N`` operator."""
    square = sp.lil_array((N, N))
    square[:, :M] = block
    return sp.csr_array(square)


def step(name: str, alg: SingleProcess) -> dict[str, Any]:
    model = MODELS[name](FEATURES, 5, CLASSES, layers=1, dropout=0.5, seed=2, heads=3).double()
    model.train()
    logits = model(alg, alg.data.features, epoch=3)
    loss = alg.cross_entropy(logits, alg.data.train_mask)
    loss.backward()
    return {"logits": logits.detach(), "loss": float(loss.detach()),
            "grads": {n: p.grad for n, p in model.named_parameters()}}


@pytest.mark.parametrize("name", ["gcn", "sage", "gin", "gat"])
def test_a_block_computes_what_its_square_embedding_does(name: str) -> None:
    block = bipartite_block()
    rectangular = step(name, algorithm(block, M))
    square = step(name, algorithm(embedded(block), N))
    assert rectangular["logits"].shape == (M, CLASSES)
    torch.testing.assert_close(rectangular["logits"], square["logits"][:M])
    assert rectangular["loss"] == pytest.approx(square["loss"], rel=1e-12)
    assert set(rectangular["grads"]) == set(square["grads"])
    for key, grad in rectangular["grads"].items():
        torch.testing.assert_close(grad, square["grads"][key], msg=key)


def test_a_block_follows_the_dense_formulas() -> None:
    """GraphSAGE on the block: ``Z = A^T X W_neigh + X[:m] W_root + b``, by dense float64
    algebra, with the layer's own weights; the gradients by autograd on that algebra."""
    block = bipartite_block()
    alg = algorithm(block, M)
    model = MODELS["sage"](FEATURES, 5, CLASSES, layers=1, dropout=0.0, seed=2).double()
    layer = model.layers()[0]
    out = model(alg, alg.data.features)
    x = alg.data.features
    at = torch.from_numpy(block.toarray().T)
    weights = [p.detach().clone().requires_grad_() for p in
               (layer.weight_neigh, layer.weight_root, layer.bias)]
    dense = at @ x @ weights[0] + x[:M] @ weights[1] + weights[2]
    torch.testing.assert_close(out, dense.detach())
    F.cross_entropy(out[alg.data.train_mask], alg.data.labels[alg.data.train_mask]).backward()
    F.cross_entropy(dense[alg.data.train_mask], alg.data.labels[alg.data.train_mask]).backward()
    for mine, reference in zip((layer.weight_neigh, layer.weight_root, layer.bias), weights,
                               strict=True):
        torch.testing.assert_close(mine.grad, reference.grad)


def test_more_destinations_than_sources_is_refused() -> None:
    with pytest.raises(ValueError, match="destinations"):
        algorithm(sp.csr_array(bipartite_block().T), M)
