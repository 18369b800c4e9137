"""Every distributed algorithm at P = 2, 4, 8, 16 on one graph: measured bytes against models.

Each configuration is a real training run (``pargnn.train``: P processes, gloo, 2 epochs) on
one R-MAT graph. For every run this records what the ranks' communication logs measured
(bytes and messages of the training step per epoch, per rank), what pargnn's exact cost model
predicts for the same graph and grid (they must be equal, rank by rank and phase by phase: a
mismatch is printed loudly and marked in the table), CAGNET's asymptotic bandwidth, latency and
memory for the same P and c (to compare orderings), the state and memory of the ranks and the
epoch time (median of the epochs, slowest rank).

Why one graph and many grids: bytes are exact whatever the machine, so the sweep shows how
each algorithm's traffic per rank scales with P even on a 2-core machine that oversubscribes
P = 16 (the times are then only indicative).

The configurations: 1d; 1.5d with c = 2 where c^2 <= P, and c = 4 at P = 16; 2d on the
default (most square) grid; 3d on the default grid plus 2x2x2 at P = 8 and 2x2x4 at P = 16
(duplicates of a default are run once).

Run from the repository root (about 15-25 minutes on 2 cores)::

    .venv/bin/python benchmarks/algorithms/sweep.py
    .venv/bin/python benchmarks/algorithms/sweep.py --ps 2 4 --graph \\
        rmat:nodes=4096,degree=8,features=32,classes=8 --out /tmp/sweep.json   # a smoke run
    .venv/bin/python benchmarks/algorithms/sweep.py --table-only   # rewrite sweep.md only

It writes ``results/sweep.json`` (raw, rewritten after every run) and ``results/sweep.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costs import (
    Problem,
    cagnet_bytes,
    cagnet_memory_bytes,
    cagnet_messages,
    exact_traffic,
    load_problem,
    replication,
)
from runner import code_version, run_training

from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.cost.traffic import Traffic
from pargnn.layout.spec import GridSpec, valid_replications

HERE = Path(__file__).resolve().parent
GRAPH = "rmat:nodes=32768,degree=16,features=128,classes=16"
PS = (2, 4, 8, 16)
EXTRA_3D = {8: "2x2x2", 16: "2x2x4"}
EXTRA_15D = {16: 4}
MB = 1e6


@dataclass(frozen=True)
class Setup:
    """One configuration of the sweep."""

    algo: str
    nprocs: int
    grid: str | None = None
    replication: int | None = None

    def spec(self) -> GridSpec:
        return plan_grid(self.algo, self.nprocs, self.grid, self.replication)


def setups(ps: tuple[int, ...]) -> list[Setup]:
    """The sweep's configurations, in order of P, without duplicate grids."""
    chosen: list[Setup] = []
    for p in ps:
        candidates = [Setup("1d", p)]
        candidates += [Setup("1.5d", p, replication=c) for c in (2, EXTRA_15D.get(p))
                       if c is not None and c in valid_replications(p)]
        candidates += [Setup("2d", p), Setup("3d", p)]
        if p in EXTRA_3D:
            candidates.append(Setup("3d", p, grid=EXTRA_3D[p]))
        seen: set[tuple[str, tuple[int, ...]]] = set()
        for s in candidates:
            key = (s.algo, s.spec().shape)
            if key not in seen:
                seen.add(key)
                chosen.append(s)
    return chosen


def base_config(graph: str, epochs: int) -> TrainConfig:
    return TrainConfig(dataset=graph, hidden=64, layers=2, epochs=epochs, dtype="float32",
                       threads=1, quiet=True)


def config_for(base: TrainConfig, setup: Setup) -> TrainConfig:
    return base.replace(nprocs=setup.nprocs, algo=setup.algo, grid=setup.grid,
                        replication=setup.replication)


def logged_phases(run: dict[str, Any], rank: int, epochs: int) -> dict[str, tuple[int, int]]:
    """(calls, bytes) per phase of one rank's training step, per epoch."""
    phases = run["comm"]["per_rank"][rank]["by_phase"]
    return {name.removeprefix("train/"): (s["calls"] // epochs, s["bytes"] // epochs)
            for name, s in phases.items() if name.startswith("train/")}


def predicted_phases(traffic: Traffic) -> dict[str, tuple[int, int]]:
    return {phase: (traffic.calls[phase], traffic.bytes[phase]) for phase in traffic.bytes}


def mismatches(run: dict[str, Any], predicted: list[Traffic], epochs: int) -> list[str]:
    """Every rank and phase where the log and the exact model disagree (empty: equal)."""
    found = []
    measured = run["comm"]["bytes_per_epoch_per_rank"]
    calls = run["comm"]["messages_per_epoch_per_rank"]
    for rank, traffic in enumerate(predicted):
        if (measured[rank], calls[rank]) != (traffic.total_bytes, traffic.total_calls):
            found.append(f"rank {rank}: logged {measured[rank]} B / {calls[rank]} calls, "
                         f"model {traffic.total_bytes} B / {traffic.total_calls} calls")
        logged, model = logged_phases(run, rank, epochs), predicted_phases(traffic)
        for phase in sorted(set(logged) | set(model)):
            if logged.get(phase) != model.get(phase):
                found.append(f"rank {rank} {phase}: logged (calls, bytes) {logged.get(phase)}, "
                             f"model {model.get(phase)}")
    return found


def epoch_times(run: dict[str, Any]) -> dict[str, float]:
    """Median over the epochs of the slowest rank's times (the run already takes the max)."""
    epochs = run["epochs"]
    return {key: statistics.median(e[key] for e in epochs)
            for key in ("seconds", "comm_seconds", "compute_seconds")}


def model_columns(problem: Problem, spec: GridSpec) -> dict[str, Any]:
    """What the exact model and CAGNET's table say for ``spec``; no run needed."""
    predicted = exact_traffic(problem, spec)
    per_rank = [t.total_bytes for t in predicted]
    return {
        "model_bytes_per_rank": per_rank,
        "model_bytes_max": max(per_rank),
        "model_bytes_mean": statistics.fmean(per_rank),
        "model_messages_per_rank": [t.total_calls for t in predicted],
        "model_bytes_by_phase_max": {
            phase: max(t.bytes[phase] for t in predicted)
            for phase in sorted({p for t in predicted for p in t.bytes})},
        "cagnet_bytes": cagnet_bytes(problem, spec),
        "cagnet_messages": cagnet_messages(problem, spec),
        "cagnet_memory_bytes": cagnet_memory_bytes(problem, spec),
    }


def measured_columns(run: dict[str, Any]) -> dict[str, Any]:
    comm, memory = run["comm"], run["memory"]
    measured = comm["bytes_per_epoch_per_rank"]
    state = memory["state_bytes_per_rank"]
    return {
        "bytes_per_rank": measured,
        "bytes_max": max(measured),
        "bytes_mean": statistics.fmean(measured),
        "messages_per_rank": comm["messages_per_epoch_per_rank"],
        "messages_max": max(comm["messages_per_epoch_per_rank"]),
        "state_bytes_per_rank": state,
        "state_bytes_max": max(state),
        "state_bytes_sum": sum(state),
        "peak_rss_bytes_max": max(memory["peak_rss_bytes_per_rank"]),
        "training_rss_growth_bytes_max": max(memory["training_rss_growth_bytes_per_rank"]),
        "epoch": epoch_times(run),
        "epochs": run["epochs"],
        "wall_seconds": run["wall_seconds"],
    }


def measure(setup: Setup, base: TrainConfig, problem: Problem, timeout_s: float,
            ) -> dict[str, Any]:
    """Run ``setup`` and set the run beside the models; a crash is recorded, not raised."""
    spec = setup.spec()
    record: dict[str, Any] = {"algo": setup.algo, "grid": spec.describe(), "P": setup.nprocs,
                              "c": replication(spec), **model_columns(problem, spec)}
    run = run_training(config_for(base, setup), timeout_s)
    if "error" in run:
        record["error"] = run["error"]
        print(f"!!! {setup} FAILED:\n{run['error']}", file=sys.stderr, flush=True)
        return record
    record.update(measured_columns(run))
    found = mismatches(run, exact_traffic(problem, spec), base.epochs)
    record["equal"] = not found
    record["mismatches"] = found
    if found:
        print(f"!!! MODEL MISMATCH {setup}:\n  " + "\n  ".join(found), file=sys.stderr,
              flush=True)
    return record


def mb(value: float) -> str:
    return f"{value / MB:,.3f}"


def table_row(r: dict[str, Any]) -> str:
    head = f"| {r['P']} | {r['algo']} | {r['grid']} |"
    if "error" in r:
        return head + " FAILED | | " + mb(r["model_bytes_max"]) + " | | | " + \
            mb(r["cagnet_bytes"]) + " | | | | | | | |"
    equal = "yes" if r["equal"] else "**NO**"
    e = r["epoch"]
    return (head + f" {mb(r['bytes_max'])} | {mb(r['bytes_mean'])} | {mb(r['model_bytes_max'])}"
            f" | {equal} | {r['messages_max']} | {mb(r['cagnet_bytes'])} |"
            f" {mb(r['state_bytes_max'])} | {mb(r['state_bytes_max'] * r['P'])} |"
            f" {mb(sum(r['state_bytes_per_rank']))} | {mb(r['cagnet_memory_bytes'])} |"
            f" {r['peak_rss_bytes_max'] / 2**20:,.0f} |"
            f" {r['training_rss_growth_bytes_max'] / 2**20:,.0f} |"
            f" {e['seconds']:.3f} | {e['comm_seconds']:.3f} |")


def ordering(records: list[dict[str, Any]], key: str) -> str:
    ranked = sorted(records, key=lambda r: r[key])
    return " < ".join(f"{r['algo']} {r['grid']}" for r in ranked)


def markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The table of every run, then the orderings per P (fewest bytes first)."""
    lines = [
        f"Graph `{meta['graph']}` (n = {meta['n']:,}, nnz(A) = {meta['nnz']:,} incl. self "
        f"loops), hidden {meta['hidden']}, {meta['layers']} layers, {meta['epochs']} epochs, "
        "float32, threads=1 per rank. Bytes in MB (10^6) per rank per epoch (training step); "
        "state (sparse blocks + vertex data a rank keeps) in MB, its sum over the ranks, and "
        "CAGNET's memory column per rank in MB (4-byte words); peak RSS and its growth during "
        "training in MiB; times in seconds (median of the epochs, slowest rank; P > 2 "
        "oversubscribes the 2 cores).",
        "",
        "| P | algo | grid | bytes max | bytes mean | exact model max | equal | msgs max "
        "| CAGNET bytes | state max | state max x P | state sum | CAGNET memory "
        "| peak RSS max | train RSS growth max | epoch s | comm s |",
        "|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(table_row(r) for r in records),
        "",
        "Orderings per P, fewest bytes per rank first (measured max; CAGNET's table):",
        "",
        "| P | measured | CAGNET |",
        "|---:|---|---|",
    ]
    for p in sorted({r["P"] for r in records}):
        at_p = [r for r in records if r["P"] == p]
        ran = [r for r in at_p if "error" not in r]
        lines.append(f"| {p} | {ordering(ran, 'bytes_max')} | {ordering(at_p, 'cagnet_bytes')} |")
    equal = sum(1 for r in records if r.get("equal"))
    lines += ["", f"Measured == exact model (every rank, every phase): {equal} of "
                  f"{len(records)} runs."]
    return "\n".join(lines) + "\n"


def write(records: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "runs": records}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(records, meta))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", default=GRAPH)
    parser.add_argument("--ps", type=int, nargs="+", default=list(PS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sweep.json")
    parser.add_argument("--table-only", action="store_true",
                        help="rewrite the .md from an existing --out JSON, run nothing")
    args = parser.parse_args()
    if args.table_only:
        data = json.loads(args.out.read_text())
        args.out.with_suffix(".md").write_text(markdown(data["runs"], data["meta"]))
        return
    base = base_config(args.graph, args.epochs)
    problem = load_problem(base)
    meta = {"graph": problem.graph.summary()["name"], "n": problem.n, "nnz": problem.nnz,
            "features": problem.features, "classes": problem.graph.num_classes,
            "hidden": base.hidden, "layers": base.layers, "epochs": base.epochs,
            "dtype": base.dtype, "threads": base.threads, "code": code_version()}
    records: list[dict[str, Any]] = []
    for setup in setups(tuple(args.ps)):
        print(f"running {setup} ...", flush=True)
        records.append(measure(setup, base, problem, args.timeout))
        r = records[-1]
        print(f"  {r['algo']} {r['grid']}: measured max "
              f"{r.get('bytes_max', 'FAILED')}, model max {r['model_bytes_max']}, "
              f"equal {r.get('equal')}, wall {r.get('wall_seconds', 0):.0f} s", flush=True)
        write(records, meta, args.out)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
