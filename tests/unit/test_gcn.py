"""The GCN model on the single-process algorithm against a dense float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.recording import model_steps
from pargnn.algorithms.single import SingleProcess
from pargnn.cost.estimate import spmm_work
from pargnn.graph.normalize import gcn_normalize
from pargnn.nn.models import GCN
from pargnn.ops.sparse import SparseOperator


def make_algorithm(n: int = 29, f: int = 10, classes: int = 6, seed: int = 0
                   ) -> tuple[SingleProcess, torch.Tensor]:
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, n - 3, 90), rng.integers(0, n - 3, 90)  # 3 isolated vertices
    a = sp.csr_array((np.ones(90), (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    a_hat = gcn_normalize(a)
    labels = torch.from_numpy(rng.integers(0, classes, n))
    mask = torch.from_numpy(rng.random(n) < 0.5)
    data = LocalData(
        features=torch.from_numpy(rng.standard_normal((n, f))),
        labels=labels, train_mask=mask, val_mask=~mask, test_mask=torch.zeros(n, dtype=bool),
        row_ids=torch.arange(n), feature_ids=torch.arange(f),
    )
    op = SparseOperator.from_scipy(a_hat, dtype=torch.float64)
    return SingleProcess(op, data), torch.from_numpy(a_hat.toarray())


def dense_forward(model: GCN, a_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    h = x
    for index, conv in enumerate(model.convs):
        h = a_hat.T @ h @ conv.weight + conv.bias
        if index < len(model.convs) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("layers,hidden", [(2, 4), (3, 16), (1, 8)])
def test_outputs_and_gradients_match_dense_reference(layers: int, hidden: int) -> None:
    algorithm, a_hat = make_algorithm()
    model = GCN(10, hidden, 6, layers=layers, dropout=0.0, seed=1).double()
    reference = GCN(10, hidden, 6, layers=layers, dropout=0.0, seed=1).double()
    x, mask = algorithm.data.features, algorithm.data.train_mask

    logits = model(algorithm, x)
    algorithm.cross_entropy(logits, mask).backward()
    expected = dense_forward(reference, a_hat, x)
    torch.nn.functional.cross_entropy(expected[mask], algorithm.data.labels[mask]).backward()

    torch.testing.assert_close(logits, expected)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_same_seed_same_weights_and_dropout() -> None:
    algorithm, _ = make_algorithm()
    a = GCN(10, 8, 6, dropout=0.5, seed=4).double()
    b = GCN(10, 8, 6, dropout=0.5, seed=4).double()
    x = algorithm.data.features
    torch.testing.assert_close(a(algorithm, x, epoch=3), b(algorithm, x, epoch=3))
    assert not torch.allclose(a(algorithm, x, epoch=3), a(algorithm, x, epoch=4))


def test_spmm_work_counts_the_products_an_epoch_does() -> None:
    model = GCN(100, 16, 7, layers=2)
    widths = [(w.direction, w.width) for w in spmm_work(model_steps(model))]
    # layer 0 transforms first (100 > 16): forward and backward at width 16;
    # layer 1 aggregates first (16 < 7 is false -> transforms first too): width 7
    assert widths == [("forward", 16), ("backward", 16), ("forward", 7), ("backward", 7)]
    narrow_input = spmm_work(model_steps(GCN(4, 16, 7, layers=2)))
    assert [(w.direction, w.width) for w in narrow_input] == [
        ("forward", 4), ("forward", 7), ("backward", 7)]


def test_no_bias_model_has_only_weights() -> None:
    model = GCN(10, 8, 6, layers=3, bias=False)
    assert [name for name, _ in model.named_parameters()] == [
        "convs.0.weight", "convs.1.weight", "convs.2.weight"]
