"""Layer-wise inference with all neighbours is full-graph inference, however it is batched."""

from __future__ import annotations

import pytest
import torch

from pargnn import TrainConfig
from pargnn.graph.datasets import load_dataset
from pargnn.training.minibatch import MiniBatchSession
from pargnn.training.run import prepare
from pargnn.training.session import build_session

SBM = "sbm:nodes=400,blocks=4,degree=8,homophily=0.7,features=10,sigma=2,seed=4"


@pytest.mark.parametrize("model", ["gcn", "sage", "gat", "gin"])
@pytest.mark.parametrize("batch_edges", [1, 97, 1 << 24])
def test_layerwise_equals_the_full_graph(model: str, batch_edges: int) -> None:
    graph = load_dataset(SBM, None)
    full = TrainConfig(model=model, hidden=8, heads=2, dtype="float64", quiet=True, layers=3)
    sampled = full.replace(mode="minibatch", batch_size=50, fanout="3,3,3")
    reference = build_session(prepare(graph, full), full, torch.device("cpu"))
    session = build_session(prepare(graph, sampled), sampled, torch.device("cpu"))
    assert isinstance(session, MiniBatchSession)
    evaluator = session.schedule.evaluator
    evaluator.batch_edges = batch_edges
    batches = evaluator._batches()
    assert batches[0][0] == 0 and batches[-1][1] == graph.num_nodes
    assert all(a[1] == b[0] for a, b in zip(batches, batches[1:], strict=False))
    if batch_edges == 1:
        assert len(batches) == graph.num_nodes  # a row with more edges takes a batch alone
    assert tuple(session.schedule.evaluate()) == tuple(reference.schedule.evaluate())
