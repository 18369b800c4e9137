"""Epoch time of each algorithm at P = 2 against one process, on a graph of 131k vertices.

Every side is a real ``pargnn.train`` run with one thread per process (P = 1: the
single-process path; P = 2: 1d, 2d on 1x2, 3d on 1x1x2 -- 1.5d has no replication c > 1 with
c^2 <= 2, so it is the 1d algorithm there and is not run). The sides alternate (P = 1, 1d, 2d,
3d, then again) so that drift of a shared machine touches all of them alike. The epoch time of
a run is the median of its epochs after the first (warm-up), on the slowest rank; a side's
figure is the median over the epochs of both repeats. The speedup is ``P1 / P2``; the comm
share is the fraction of the epoch spent in collectives (slowest rank). Before each repeat a
probe times one single-thread GEMM process alone and two at once: on a machine shared with
other work, P = 2 cannot be faster than its second core is free, and the probe says how free
it was (``core_probe`` in the JSON: 1.0 two free cores, 0.5 one).

Why it is worth measuring on 2 cores: with one thread per process, P = 2 uses both cores, so
the ratio shows what splitting the work gains after paying for the communication that the
sweep counts.

Run from the repository root (about 5-10 minutes)::

    .venv/bin/python benchmarks/algorithms/timing.py
    .venv/bin/python benchmarks/algorithms/timing.py --graph \\
        rmat:nodes=8192,degree=10,features=32,classes=8 --repeats 1 --out /tmp/t.json  # smoke

It writes ``results/timing.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from runner import code_version, run_training

from pargnn.config import TrainConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/machine.py

from machine import cpu_model  # noqa: E402

GRAPH = "rmat:nodes=131072,degree=10,features=128,classes=16"


@dataclass(frozen=True)
class Side:
    """One side of the comparison."""

    name: str
    nprocs: int
    algo: str = "1d"
    grid: str | None = None


SIDES = (Side("P=1", 1), Side("1d", 2, "1d"), Side("2d", 2, "2d", "1x2"),
         Side("3d", 2, "3d", "1x1x2"))


def _gemm_seconds(queue: Any) -> None:
    torch.set_num_threads(1)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    queue.put(time.perf_counter() - start)


def core_probe() -> float:
    """How much of a second core this run can have: one single-thread GEMM process alone
    against two at once, ``t_alone / t_two`` (1.0: two free cores; 0.5: one core shared)."""
    ctx = mp.get_context("spawn")
    times = {}
    for count in (1, 2):
        queue = ctx.Queue()
        procs = [ctx.Process(target=_gemm_seconds, args=(queue,)) for _ in range(count)]
        for proc in procs:
            proc.start()
        times[count] = max(queue.get() for _ in procs)
        for proc in procs:
            proc.join()
    return times[1] / times[2]


def config_for(side: Side, graph: str, hidden: int, epochs: int) -> TrainConfig:
    return TrainConfig(dataset=graph, hidden=hidden, layers=2, epochs=epochs, dtype="float32",
                       threads=1, quiet=True, nprocs=side.nprocs, algo=side.algo,
                       grid=side.grid)


def timed_epochs(run: dict[str, Any]) -> list[dict[str, float]]:
    """Every epoch but the first (it pays for warm-up)."""
    epochs = run["epochs"]
    return epochs[1:] or epochs


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the timed epochs of every repeat of one side."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1]["error"]}
    epochs = [e for r in ok for e in timed_epochs(r)]
    seconds = statistics.median(e["seconds"] for e in epochs)
    comm = statistics.median(e["comm_seconds"] for e in epochs)
    return {
        "epoch_seconds": seconds,
        "comm_seconds": comm,
        "comm_share": comm / seconds,
        "per_repeat_epoch_seconds": [
            statistics.median(e["seconds"] for e in timed_epochs(r)) for r in ok],
        "bytes_per_epoch_max": max(ok[0]["comm"].get("bytes_per_epoch_per_rank", [0]) or [0]),
        "peak_rss_bytes_max": max(ok[0]["memory"]["peak_rss_bytes_per_rank"]),
    }


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    return {"cpu": cpu, "logical_cpus": mp.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "backend": "gloo"}


def table(summary: dict[str, dict[str, Any]]) -> str:
    base = summary["P=1"].get("epoch_seconds")
    lines = ["| side | P | epoch s (median) | comm s | comm share | speedup P1/P2 "
             "| bytes/epoch/rank (max) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for side in SIDES:
        s = summary[side.name]
        if "error" in s:
            lines.append(f"| {side.name} | {side.nprocs} | FAILED | | | | |")
            continue
        speedup = f"{base / s['epoch_seconds']:.2f}" if base else "-"
        lines.append(f"| {side.name} | {side.nprocs} | {s['epoch_seconds']:.3f} | "
                     f"{s['comm_seconds']:.3f} | {100 * s['comm_share']:.0f}% | {speedup} | "
                     f"{s['bytes_per_epoch_max'] / 1e6:,.2f} MB |")
    lines.append("| 1.5d | 2 | not run: no c > 1 with c^2 <= 2 | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", default=GRAPH)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "timing.json")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {side.name: [] for side in SIDES}
    probes: list[float] = []
    for repeat in range(args.repeats):
        probes.append(core_probe())
        print(f"repeat {repeat}: second-core availability {probes[-1]:.2f}", flush=True)
        for side in SIDES:
            print(f"repeat {repeat}: {side.name} ...", flush=True)
            run = run_training(config_for(side, args.graph, args.hidden, args.epochs),
                               args.timeout)
            if "error" in run:
                print(f"!!! {side.name} FAILED:\n{run['error']}", file=sys.stderr, flush=True)
            runs[side.name].append(run)
    summary = {name: summarise(side_runs) for name, side_runs in runs.items()}
    report = {"graph": args.graph, "hidden": args.hidden, "layers": 2, "epochs": args.epochs,
              "threads_per_process": 1, "repeats": args.repeats, "machine": machine(),
              "code": code_version(),
              "core_probe": probes, "summary": summary,
              "runs": {name: [{k: r.get(k) for k in ("epochs", "comm", "memory", "dataset",
                                                     "wall_seconds", "error")}
                              for r in side_runs] for name, side_runs in runs.items()}}
    for side_runs in report["runs"].values():
        for r in side_runs:
            if r["comm"]:
                r["comm"] = {k: v for k, v in r["comm"].items() if k != "per_rank"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(summary))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
