"""Label propagation: the iteration as written (dense float64 algebra), its accuracy on Cora,
and that it trains nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pargnn import TrainConfig, train
from pargnn.errors import ConfigError
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
