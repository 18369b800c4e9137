"""The command line: outputs, and one clear message with a non-zero exit for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pargnn.cli import EXIT_USER_ERROR, main

SMALL = "sbm:nodes=300,blocks=3,p_in=0.05,p_out=0.005,features=8,seed=1"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_train_writes_the_documented_json(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, text = run(capsys, "train", "--dataset", SMALL, "--epochs", "3", "--quiet",
                     "--out", str(out))
    assert code == 0, text
    payload = json.loads(out.read_text())
    assert set(payload) >= {"config", "epochs", "final", "memory"}
    assert payload["config"]["epochs"] == 3 and payload["config"]["dataset"] == SMALL
    assert [e["epoch"] for e in payload["epochs"]] == [0, 1, 2]
    assert set(payload["epochs"][0]) == {"epoch", "loss", "train_acc", "val_acc", "test_acc",
                                         "seconds", "comm_seconds", "compute_seconds"}
    assert payload["epochs"][0]["comm_seconds"] == 0.0
    assert set(payload["final"]) >= {"best_epoch", "val_acc", "test_acc"}
    assert payload["memory"]["peak_rss_bytes"] > 10 * 2**20
    assert "test accuracy" in text


def test_progress_and_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, "train", "--dataset", SMALL, "--epochs", "2")
    assert code == 0
    assert "best epoch" in text and "test accuracy" in text and "SpMMs" in text


def test_unknown_option_value_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "gxn"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'gxn'" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--dataset", "no-such-dataset"], "no-such-dataset"),
    (["--dataset", "rmat:nodes=-5"], "nodes"),
    (["--partition", "metis", "--nprocs", "2", "--algo", "1d"], "--partition applies to"),
    (["--permute", "--nprocs", "2", "--algo", "sa1d"], "use --partition random"),
])
def test_bad_settings_give_one_clear_message(argv: list[str], expected: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, text = run(capsys, "train", *argv, "--out", str(out))
    assert code == EXIT_USER_ERROR
    assert expected in text
    assert "Traceback" not in text
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_named_dataset_says_where_it_looked(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "run.json"
    (tmp_path / "out").mkdir()
    code, text = run(capsys, "train", "--dataset", "cora", "--data-root", str(tmp_path / "data"),
                     "--out", str(out))
    assert code == EXIT_USER_ERROR
    assert str(tmp_path / "data") in text and "PARGNN_DATA" in text
    assert not out.exists()


def test_output_folder_must_exist_before_training(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, "train", "--dataset", SMALL, "--out",
                     str(tmp_path / "missing" / "run.json"))
    assert code == EXIT_USER_ERROR and "does not exist" in text


def test_datasets_lists_names_and_paths(shared_datasets: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, "datasets", "--data-root", str(shared_datasets))
    assert code == 0
    for name in ("cora", "citeseer", "twitch-engb"):
        assert name in text
    assert "yes" in text


def test_console_entry_point_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pargnn", "train", "--dataset", SMALL, "--epochs", "2",
         "--quiet", "--threads", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout


def test_no_bias_switch_reaches_the_model(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.json"
    code, _ = run(capsys, "train", "--dataset", SMALL, "--epochs", "1", "--quiet", "--no-bias",
                  "--out", str(out))
    assert code == 0
    assert json.loads(out.read_text())["config"]["bias"] is False
