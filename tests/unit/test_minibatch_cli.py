"""``--mode minibatch`` on the command line: the JSON it writes, and bad settings refused with
one line, exit status 2 and no output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pargnn.cli import EXIT_USER_ERROR
from tests.unit.test_cli import SMALL, run

MINIBATCH = ("--dataset", SMALL, "--mode", "minibatch")


def test_minibatch_writes_its_figures(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, text = run(capsys, "train", *MINIBATCH, "--batch-size", "64", "--fanout", "5,3",
                     "--epochs", "3", "--model", "sage", "--quiet", "--out", str(out))
    assert code == 0, text
    payload = json.loads(out.read_text())
    train = payload["dataset"]["train"]
    assert payload["mode"] == "minibatch"
    assert payload["batch_size"] == 64 and payload["fanout"] == [5, 3]
    assert payload["steps_per_epoch"] == -(-train // 64)
    sampling = payload["sampling"]
    assert set(sampling) == {"seconds_per_epoch", "sampled_edges_per_epoch",
                             "sampled_edges_per_second"}
    assert 0 < sampling["sampled_edges_per_epoch"] <= train * (5 + 1) * (1 + (3 + 1))
    assert sampling["sampled_edges_per_second"] > 0
    assert payload["estimate"]["allreduce_bytes_per_step"] == 0  # one process sends nothing
    assert len(payload["epochs"]) == 3 and payload["epochs"][-1]["loss"] > 0


def test_full_mode_writes_its_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, _ = run(capsys, "train", "--dataset", SMALL, "--epochs", "1", "--quiet",
                  "--out", str(out))
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["mode"] == "full" and "sampling" not in payload


def test_batch_larger_than_the_training_set_is_one_batch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, text = run(capsys, "train", *MINIBATCH, "--batch-size", "100000", "--epochs", "2",
                     "--optimizer", "lars", "--lr", "1", "--out", str(out))
    assert code == 0, text
    assert "each epoch is one batch" in text
    assert json.loads(out.read_text())["steps_per_epoch"] == 1


@pytest.mark.parametrize("argv,expected", [
    (["--fanout", "10"], "has 1 entries; the model has 2 layers"),
    (["--fanout", "10,5,5"], "has 3 entries"),
    (["--fanout", "10,0"], "each entry must be >= 1, or -1"),
    (["--fanout", "10,-2"], "each entry must be >= 1, or -1"),
    (["--fanout", "10,2.5"], "expected integers separated by commas"),
    (["--fanout", "ten,five"], "expected integers separated by commas"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--batch-size", "-3"], "--batch-size must be >= 1"),
    (["--algo", "2d"], "--algo 2d lays out full-graph training"),
    (["--algo", "auto"], "--algo auto lays out full-graph training"),
    (["--grid", "2x2"], "--grid applies to full-graph training"),
    (["--replication", "2"], "--replication applies to full-graph training"),
    (["--permute"], "--permute applies to full-graph training"),
    (["--partition", "metis"], "--partition applies to full-graph training"),
    (["--model", "labelprop"], "--model labelprop has no parameters"),
    (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
    (["--optimizer", "lars", "--trust-coefficient", "0"], "--trust-coefficient must be > 0"),
])
def test_bad_minibatch_settings(argv: list[str], expected: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, text = run(capsys, "train", *MINIBATCH, *argv, "--out", str(out))
    assert code == EXIT_USER_ERROR, text
    assert expected in text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", [["--batch-size", "32"], ["--fanout", "10,10"]])
def test_minibatch_flags_need_minibatch_mode(flag: list[str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, text = run(capsys, "train", "--dataset", SMALL, *flag, "--out", str(out))
    assert code == EXIT_USER_ERROR
    assert f"{flag[0]} applies to --mode minibatch" in text
    assert list(tmp_path.iterdir()) == []


def test_python_callers_may_give_fanouts_as_a_tuple() -> None:
    from pargnn.config import TrainConfig, parse_fanout
    from pargnn.errors import ConfigError

    assert TrainConfig(mode="minibatch", fanout=(15, -1)).fanouts() == (15, -1)
    assert parse_fanout("7,3,2", 3) == (7, 3, 2) and parse_fanout(None, 2) == (10, 10)
    for bad in ((10, 2.5), (3,), ("x", 2)):
        with pytest.raises(ConfigError, match="--fanout"):
            TrainConfig(mode="minibatch", fanout=bad).validate()  # type: ignore[arg-type]
