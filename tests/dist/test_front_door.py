"""The front door: a graph built in Python trains at any ``nprocs`` and under torchrun, the
ranks never load the dataset the configuration names, and ``--algo auto`` under torchrun is
planned once, on rank 0, for every rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pargnn import TrainConfig, train
from pargnn.dist.launch import free_port
from tests.dist.test_equivalence import random_graph

NOWHERE = "no/such/dataset.npz"  # the ranks must not try to load it
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("algo", ["1d", "sa1d"])
def test_a_graph_built_in_python_trains_distributed(algo: str) -> None:
    graph = random_graph()
    config = TrainConfig(dataset=NOWHERE, epochs=4, hidden=8, dtype="float64", quiet=True)
    alone = train(config, graph=graph)
    together = train(config.replace(nprocs=2, algo=algo), graph=graph)
    assert together.dataset["nodes"] == alone.dataset["nodes"] == graph.num_nodes
    assert together.dataset["name"] == graph.name
    assert len(together.comm["bytes_per_epoch_per_rank"]) == 2  # type: ignore[arg-type]
    assert [e.loss for e in together.epochs] == pytest.approx([e.loss for e in alone.epochs],
                                                               rel=1e-9)


TORCHRUN_SCRIPT = """
import sys

sys.path.insert(0, {root!r})
from pargnn import TrainConfig, train
from tests.dist.test_equivalence import random_graph

config = TrainConfig(dataset={nowhere!r}, epochs=4, hidden=8, dtype="float64", quiet=True,
                     algo=sys.argv[1], out=sys.argv[2])
train(config, graph=random_graph())
"""


def _torchrun(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(free_port()), *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=150,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.timeout(180)
def test_torchrun_trains_the_graph_each_rank_was_given(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT).format(root=str(ROOT), nowhere=NOWHERE))
    _torchrun(tmp_path, str(script), "auto", str(tmp_path / "run.json"))
    payload = json.loads((tmp_path / "run.json").read_text())
    alone = train(TrainConfig(dataset=NOWHERE, epochs=4, hidden=8, dtype="float64",
                              quiet=True), graph=random_graph())
    assert payload["dataset"]["nodes"] == 29 and payload["config"]["algo"] != "auto"
    assert payload["plan"]["choice"]["algo"] == payload["config"]["algo"]
    assert len(payload["comm"]["bytes_per_epoch_per_rank"]) == 2
    assert [e["loss"] for e in payload["epochs"]] == pytest.approx(
        [e.loss for e in alone.epochs], rel=1e-9)


@pytest.mark.timeout(180)
def test_torchrun_runs_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    _torchrun(tmp_path, "-m", "pargnn", "train", "--dataset",
              "sbm:nodes=300,blocks=3,degree=6,homophily=0.8,features=8,seed=1", "--epochs", "3",
              "--quiet",
              "--algo", "2d", "--out", str(out))
    payload = json.loads(out.read_text())
    assert payload["config"]["algo"] == "2d" and len(payload["epochs"]) == 3
    assert len(payload["memory"]["peak_rss_bytes_per_rank"]) == 2


MINIBATCH_SBM = "sbm:nodes=300,blocks=3,degree=6,homophily=0.8,features=8,seed=1"
MINIBATCH_ARGS = ("--mode", "minibatch", "--batch-size", "50", "--fanout", "4,3",
                  "--model", "sage", "--epochs", "3", "--dtype", "float64", "--quiet")


def _minibatch_alone() -> list[float]:
    config = TrainConfig(dataset=MINIBATCH_SBM, mode="minibatch", batch_size=50, fanout="4,3",
                         model="sage", epochs=3, dtype="float64", quiet=True)
    return [float(e.loss or 0) for e in train(config).epochs]


@pytest.mark.timeout(180)
def test_minibatch_through_the_front_door_at_three_processes(tmp_path: Path) -> None:
    """Spawned ranks map the stored graph and train the model one process trains."""
    out = tmp_path / "run.json"
    config = TrainConfig(dataset=MINIBATCH_SBM, mode="minibatch", batch_size=50, fanout="4,3",
                         model="sage", epochs=3, dtype="float64", quiet=True, nprocs=3,
                         out=str(out))
    together = train(config)
    assert [e.loss for e in together.epochs] == pytest.approx(_minibatch_alone(), rel=1e-9)
    payload = json.loads(out.read_text())
    assert payload["mode"] == "minibatch" and payload["steps_per_epoch"] == 4  # 180 train
    per_step = payload["estimate"]["allreduce_bytes_per_step"]
    assert payload["comm"]["bytes_per_epoch_per_rank"] == [4 * per_step] * 3


@pytest.mark.timeout(180)
def test_torchrun_trains_minibatches(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    _torchrun(tmp_path, "-m", "pargnn", "train", "--dataset", MINIBATCH_SBM, *MINIBATCH_ARGS,
              "--out", str(out))
    payload = json.loads(out.read_text())
    assert payload["mode"] == "minibatch" and payload["fanout"] == [4, 3]
    assert len(payload["comm"]["bytes_per_epoch_per_rank"]) == 2
    assert payload["sampling"]["sampled_edges_per_epoch"] > 0
    assert [e["loss"] for e in payload["epochs"]] == pytest.approx(_minibatch_alone(), rel=1e-9)
