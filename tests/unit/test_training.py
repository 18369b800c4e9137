"""The training loop end to end on one process."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from pargnn import TrainConfig, train
from pargnn.graph.datasets import load_dataset

SBM = "sbm:nodes=600,blocks=4,p_in=0.04,p_out=0.004,features=16,seed=2"


def test_training_learns_and_keeps_test_at_best_validation() -> None:
    result = train(TrainConfig(dataset=SBM, epochs=60, quiet=True))
    assert len(result.epochs) == 60
    assert result.epochs[-1].loss < result.epochs[0].loss
    best = result.epochs[result.best_epoch]
    assert best.val_acc == max(e.val_acc for e in result.epochs)
    assert result.test_acc == best.test_acc
    assert result.test_acc > 0.5  # 4 balanced classes: chance is 0.25
    json.dumps(result.to_dict())


def test_same_seed_same_trajectory_other_seed_differs() -> None:
    config = TrainConfig(dataset=SBM, epochs=8, dtype="float64", quiet=True)
    a = [e.loss for e in train(config).epochs]
    b = [e.loss for e in train(config).epochs]
    c = [e.loss for e in train(config.replace(seed=1)).epochs]
    assert a == b
    assert a != c


def test_cora_reaches_published_range(shared_datasets: Path) -> None:
    graph = load_dataset("cora", shared_datasets)
    result = train(TrainConfig(dataset="cora", data_root=str(shared_datasets), quiet=True,
                               threads=2), graph=graph)
    assert result.test_acc > 0.78, result.test_acc
    assert not math.isnan(result.epochs[-1].loss)


def test_an_empty_split_is_said_once_and_written_as_null(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No validation vertices: one line says so, the JSON holds null (never NaN), and the
    kept epoch is the last."""
    graph = load_dataset(SBM, None)
    no_val = dataclasses.replace(graph, train_mask=graph.train_mask | graph.val_mask,
                                 val_mask=np.zeros_like(graph.val_mask))
    out = tmp_path / "run.json"
    result = train(TrainConfig(dataset=SBM, epochs=3, out=str(out)), graph=no_val)
    notices = [line for line in capsys.readouterr().err.splitlines() if "no val" in line]
    assert len(notices) == 1 and "null" in notices[0]
    text = out.read_text()
    assert "NaN" not in text
    payload = json.loads(text)
    assert payload["final"]["val_acc"] is None and payload["final"]["best_epoch"] == 2
    assert all(e["val_acc"] is None for e in payload["epochs"])
    assert payload["final"]["test_acc"] == result.test_acc
