"""``pargnn train --nprocs P`` end to end: the JSON of a distributed run, and a failing rank."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pargnn.cli import EXIT_USER_ERROR, main

SMALL = "sbm:nodes=300,blocks=3,p_in=0.05,p_out=0.005,features=8,seed=1"


@pytest.mark.timeout(180)
def test_distributed_run_reports_comm_and_memory_per_rank(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code = main(["train", "--dataset", SMALL, "--nprocs", "3", "--algo", "1d", "--epochs", "3",
                 "--out", str(out)])
    text = capsys.readouterr().err
    assert code == 0, text
    payload = json.loads(out.read_text())
    comm, memory = payload["comm"], payload["memory"]
    assert len(comm["bytes_per_epoch_per_rank"]) == 3
    assert all(b > 0 for b in comm["bytes_per_epoch_per_rank"])
    assert set(comm["by_op"]) >= {"broadcast", "all_reduce"}
    assert {"train/forward_aggregation", "train/backward_aggregation"} <= set(comm["by_phase"])
    assert len(memory["peak_rss_bytes_per_rank"]) == 3
    assert len(memory["state_bytes_per_rank"]) == 3
    epoch = payload["epochs"][1]
    assert epoch["comm_seconds"] > 0 and epoch["compute_seconds"] > 0
    assert "comm per epoch" in text  # the summary table


@pytest.mark.timeout(180)
def test_missing_dataset_fails_before_any_rank_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The graph is loaded once, before the ranks are spawned: a missing dataset is one line
    from the launcher's process, and no rank is started (a rank that fails is named by
    tests/dist/test_launch.py)."""
    out = tmp_path / "run.json"
    before = set(multiprocessing.active_children())
    code = main(["train", "--dataset", "cora", "--data-root", str(tmp_path / "none"),
                 "--nprocs", "2", "--out", str(out)])
    text = capsys.readouterr().err
    assert code == EXIT_USER_ERROR
    assert "rank " not in text and "cora" in text and "Traceback" not in text
    assert text.count("\n") == 1
    assert not out.exists()
    assert set(multiprocessing.active_children()) <= before
