"""GAT, GraphSAGE and GIN on the single-process algorithm against dense float64 references:
outputs and every gradient (attention vectors and GIN's eps included)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.single import SingleProcess
from pargnn.graph.normalize import normalize_adjacency
from pargnn.nn.models import GAT, GIN, SAGE, GraphModel
from pargnn.ops.sparse import SparseOperator

N, FEATURES, CLASSES = 23, 6, 4


def directed_graph(seed: int = 0) -> sp.csr_array:
    """Random directed graph whose last three vertices have no edges at all."""
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, N - 3, 70), rng.integers(0, N - 3, 70)
    keep = src != dst
    a = sp.csr_array((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(N, N))
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


def algorithm_for(model: GraphModel, a: sp.csr_array) -> SingleProcess:
    rng = np.random.default_rng(1)
    operator = SparseOperator.from_scipy(normalize_adjacency(a, model.normalization),
                                         dtype=torch.float64)
    mask = torch.from_numpy(rng.random(N) < 0.6)
    data = LocalData(
        features=torch.from_numpy(rng.standard_normal((N, FEATURES))),
        labels=torch.from_numpy(rng.integers(0, CLASSES, N)), train_mask=mask,
        val_mask=~mask, test_mask=torch.zeros(N, dtype=torch.bool),
        row_ids=torch.arange(N), feature_ids=torch.arange(FEATURES))
    return SingleProcess(operator, data)


def dense_gat(model: GAT, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    mask = (a + torch.eye(N, dtype=a.dtype)).T != 0  # mask[j, i]: edge i -> j
    h = x
    layers = model.layers()
    for index, conv in enumerate(layers):
        g = (h @ conv.weight).view(N, conv.heads, conv.head_width)
        heads = []
        for k in range(conv.heads):
            s_src, s_dst = g[:, k] @ conv.att_src[k], g[:, k] @ conv.att_dst[k]
            e = F.leaky_relu(s_dst[:, None] + s_src[None, :], 0.2).masked_fill(~mask, -torch.inf)
            heads.append(torch.softmax(e, dim=1) @ g[:, k])
        z = torch.cat(heads, 1) if conv.concat else torch.stack(heads).mean(0)
        h = z + conv.bias
        if index < len(layers) - 1:
            h = F.relu(h)
    return h


def dense_sage(model: SAGE, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    d_in = a.sum(0)
    mean = (a / torch.where(d_in == 0, 1.0, d_in)).T
    h = x
    for index, conv in enumerate(model.layers()):
        h = mean @ h @ conv.weight_neigh + h @ conv.weight_root + conv.bias
        if index < len(model.layers()) - 1:
            h = F.relu(h)
    return h


def dense_gin(model: GIN, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    h = x
    for index, conv in enumerate(model.layers()):
        combined = a.T @ h + (1 + conv.eps) * h
        h = F.relu(combined @ conv.weight1 + conv.bias1) @ conv.weight2 + conv.bias2
        if index < len(model.layers()) - 1:
            h = F.relu(h)
    return h


REFERENCES = {GAT: dense_gat, SAGE: dense_sage, GIN: dense_gin}


@pytest.mark.parametrize("model_class", [GAT, SAGE, GIN], ids=lambda c: c.__name__)
@pytest.mark.parametrize("layers", [2, 3])
def test_model_matches_dense_reference(model_class: type[GraphModel], layers: int) -> None:
    a = directed_graph()
    kwargs = {"layers": layers, "dropout": 0.0, "seed": 3, "heads": 3}
    model = model_class(FEATURES, 5, CLASSES, **kwargs).double()  # type: ignore[arg-type]
    reference = model_class(FEATURES, 5, CLASSES, **kwargs).double()  # type: ignore[arg-type]
    if isinstance(model, GIN):  # a non-zero eps, so its gradient is exercised
        for m in (model, reference):
            for conv in m.layers():
                conv.eps.data.fill_(0.3)
    algorithm = algorithm_for(model, a)
    x, mask = algorithm.data.features, algorithm.data.train_mask
    logits = model(algorithm, x)
    algorithm.cross_entropy(logits, mask).backward()
    expected = REFERENCES[model_class](reference, torch.from_numpy(a.toarray()), x)
    F.cross_entropy(expected[mask], algorithm.data.labels[mask]).backward()
    assert torch.isfinite(logits).all(), "vertices without in-edges must get defined outputs"
    torch.testing.assert_close(logits, expected)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_attention_dropout_is_keyed_and_only_in_training() -> None:
    a = directed_graph()
    model = GAT(FEATURES, 4, CLASSES, dropout=0.5, heads=2, seed=1).double()
    algorithm = algorithm_for(model, a)
    x = algorithm.data.features
    first, again = model(algorithm, x, epoch=2), model(algorithm, x, epoch=2)
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, model(algorithm, x, epoch=3))
    model.eval()
    torch.testing.assert_close(model(algorithm, x), model(algorithm, x, epoch=9))


def test_residual_adds_each_hidden_layers_input() -> None:
    """H_l = relu(layer_l(H_{l-1})) + H_{l-1} for the hidden layers whose widths agree; the
    first (features -> hidden) and the last (hidden -> classes) have none."""
    from pargnn.nn.models import GCN

    plain = GCN(FEATURES, 5, CLASSES, layers=4, dropout=0.0, seed=2).double().eval()
    residual = GCN(FEATURES, 5, CLASSES, layers=4, dropout=0.0, seed=2,
                   residual=True).double().eval()
    algorithm = algorithm_for(residual, directed_graph())
    x = algorithm.data.features
    layers = residual.layers()
    h = F.relu(layers[0](algorithm, x))
    for conv in layers[1:3]:
        h = F.relu(conv(algorithm, h)) + h
    expected = layers[3](algorithm, h)
    torch.testing.assert_close(residual(algorithm, x), expected)
    assert not torch.allclose(plain(algorithm, x), expected)
