"""Epoch time of sparsity-aware 1D at P=2 against one process, on a graph with communities.

One thread per process, so that P=2 uses the two cores one process alone would not. Runs, in
turn and twice each (alternating), P=1, broadcast 1D at P=2 and sa1d (METIS) at P=2, and
reports the median epoch (first epoch dropped) and the speedups over P=1. Writes
``results/speed.json``.

    .venv/bin/python benchmarks/partitioning/speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

import torch

from pargnn import train
from pargnn.config import TrainConfig

HERE = Path(__file__).resolve().parent
DEFAULT = "sbm:nodes=262144,blocks=64,degree=12,homophily=0.9,features=128,sigma=1,seed=0"
SETUPS = {"P=1": {"nprocs": 1}, "1d P=2": {"nprocs": 2, "algo": "1d"},
          "sa1d P=2 (METIS)": {"nprocs": 2, "algo": "sa1d", "partition": "metis"}}


def median_epoch(result: dict[str, Any]) -> float:
    return statistics.median(e["seconds"] for e in result["epochs"][1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default=DEFAULT)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in SETUPS}
    comm: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, setup in SETUPS.items():
            config = TrainConfig(dataset=args.dataset, hidden=args.hidden, epochs=args.epochs,
                                 threads=1, quiet=True, **setup)
            result = train(config).to_dict()
            times[name].append(median_epoch(result))
            comm[name] = statistics.median(e["comm_seconds"] for e in result["epochs"][1:])
            print(f"{name}: {times[name][-1]:.3f} s per epoch", flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["P=1"]
    payload = {
        "dataset": args.dataset, "hidden": args.hidden, "epochs": args.epochs,
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "logical_cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "median_epoch_seconds": medians, "runs": times, "comm_seconds": comm,
        "speedup_over_p1": {name: base / t for name, t in medians.items()},
    }
    out = HERE / "results" / "speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(payload, indent=1))
    print(json.dumps(payload["speedup_over_p1"], indent=1))


if __name__ == "__main__":
    main()
