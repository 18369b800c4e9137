"""Label propagation: the iteration as written (dense float64 algebra), its accuracy on Cora,
and that it trains nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pargnn import TrainConfig, train
from pargnn.algorithms.exact import predict_epoch
from pargnn.algorithms.registry import plan_grid
from pargnn.errors import ConfigError
from pargnn.planner.auto import plan_training
from pargnn.planner.problem import model_steps
from pargnn.planner.profile import load_profile
from pargnn.training.run import prepare
from pargnn.training.session import build_session
from tests.dist.test_equivalence import random_graph


def test_propagation_is_the_iteration_of_the_formula() -> None:
    """``Y <- alpha D^-1/2 A^T D^-1/2 Y + (1 - alpha) Y0`` (degrees of ``A``: out on the
    left, in on the right), ``K`` times, from the one-hot training labels."""
    graph = random_graph()
    config = TrainConfig(model="labelprop", layers=5, alpha=0.8, dtype="float64")
    session = build_session(prepare(graph, config), config, torch.device("cpu"))
    got = session.model(session.algorithm, session.algorithm.data.features)
    a = graph.adjacency().toarray()
    d_out, d_in = a.sum(axis=1), a.sum(axis=0)
    scale = lambda d: np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0.0)  # noqa: E731
    operator = (scale(d_out)[:, None] * a * scale(d_in)[None, :]).T
    y0 = np.zeros((graph.num_nodes, graph.num_classes))
    y0[graph.train_mask, graph.labels[graph.train_mask]] = 1.0
    y = y0
    for _ in range(5):
        y = 0.8 * operator @ y + 0.2 * y0
    # the operator's values are normalised in the graph's float32, the iteration in float64
    np.testing.assert_allclose(got.numpy(), y, rtol=1e-6, atol=1e-12)
    assert list(session.model.parameters()) == [] and not session.schedule.trains


def test_cora_accuracy_is_in_the_published_range(shared_datasets: Path, tmp_path: Path
                                                 ) -> None:
    """Zhou et al.'s label propagation on Cora's public split: ~68-71% published."""
    out = tmp_path / "run.json"
    result = train(TrainConfig(dataset="cora", data_root=str(shared_datasets),
                               model="labelprop", layers=10, quiet=True, out=str(out)))
    assert 0.68 <= result.test_acc <= 0.72
    payload = json.loads(out.read_text())
    assert len(payload["epochs"]) == 1 and payload["epochs"][0]["loss"] is None
    assert payload["estimate"]["spmm_calls"] == 10  # K forward products, no backward


@pytest.mark.parametrize("changes,fragment", [
    ({"model": "gcn", "alpha": 0.5}, "--alpha applies to --model labelprop"),
    ({"model": "labelprop", "alpha": 1.0}, "--alpha must be in (0, 1)"),
])
def test_alpha_is_checked(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**changes).validate()  # type: ignore[arg-type]


def test_the_planner_prices_one_evaluation_pass() -> None:
    """A model that trains nothing is planned for what it does: one forward pass and the
    accuracy counts, no backward pass and no optimiser."""
    graph = random_graph()
    config = TrainConfig(model="labelprop", layers=3)
    prepared = prepare(graph, config)
    plan = plan_training(prepared, config, 2, load_profile(None), quick=True)
    spec = plan_grid("1d", 2)
    (prediction,) = [p for p in plan.predictions if p.candidate.spec == spec]
    layers, _ = model_steps(config, graph.num_features, graph.num_classes)
    evaluation = predict_epoch(spec, graph.num_nodes, prepared.at, prepared.a, layers,
                               graph.num_classes, 4, training=False)
    assert [r.traffic.call_bytes for r in prediction.ranks] == [t.call_bytes for t in evaluation]
    # three aggregations forward only, each of the two stages of a 1D row of two
    assert all(r.work.calls["spmm"] == 3 * 2 for r in prediction.ranks)
