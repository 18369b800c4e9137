"""The planner against measurement: predicted and measured epochs, bytes and memory.

For each graph and each P in {2, 4, 8}: the machine is calibrated at P (``pargnn
calibrate``, one thread per process, kept in ``results/profile-P{P}.json``), the planner
predicts every candidate, and every algorithm valid for P is trained for real (its default
grid; METIS for the sparsity-aware ones; plus the planner's choice when that is another
layout), one thread per process. The planner times every rank's sparse products here
(:func:`pargnn.planner.planner.measured_sparse`), as ``--algo auto`` does with a calibrated
profile. Each run's epoch is the median of its training steps from the third on: the first
warms up, the second measures the training state under the profiler (``--trace-memory``).

Reported per configuration: predicted and measured epoch time (and the part spent in
collectives), bytes of every rank (the prediction must be exact), and the peak training
state of the busiest rank in tensor bytes. Per (graph, P): whether the planner's choice is
within 15% of the measured best.

    .venv/bin/python benchmarks/planner/sweep.py            # everything (about 30 minutes)
    .venv/bin/python benchmarks/planner/sweep.py --graphs sbm --ps 2 4
    .venv/bin/python benchmarks/planner/sweep.py --reprice [--remeasure cora:2]
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "algorithms"))

from runner import code_version, run_training  # noqa: E402

from pargnn.algorithms.registry import plan_grid  # noqa: E402
from pargnn.config import TrainConfig  # noqa: E402
from pargnn.graph.datasets import load_dataset  # noqa: E402
from pargnn.graph.partition import Partition, partition_graph  # noqa: E402
from pargnn.layout.spec import valid_replications  # noqa: E402
from pargnn.planner.calibrate import calibrate  # noqa: E402
from pargnn.planner.planner import Candidate, Plan, make_plan, measured_sparse  # noqa: E402
from pargnn.planner.problem import problem_for  # noqa: E402
from pargnn.planner.profile import Profile, load_profile, save_profile  # noqa: E402
from pargnn.training.run import prepare  # noqa: E402

DATA = HERE.parents[2] / "shared" / "datasets"
RESULTS = HERE / "results"
GRAPHS = {
    "sbm": "sbm:nodes=40000,blocks=32,degree=10,homophily=0.9,features=128,sigma=1,seed=0",
    "rmat": "rmat:nodes=16384,degree=48,features=32,seed=0",
    "cora": "cora",
}
# the first warms up, the second measures memory under the profiler; the median of the
# other 15 (single epochs here range over 2x)
EPOCHS = 17
TIMED_FROM = 2
THRESHOLD_TIME, THRESHOLD_CHOICE, THRESHOLD_MEMORY = 0.30, 0.15, 0.25


def profile_for(p: int, recalibrate: bool) -> Profile:
    path = RESULTS / f"profile-P{p}.json"
    if path.exists() and not recalibrate:
        return load_profile(str(path))
    print(f"calibrating at P={p} ...", flush=True)
    profile = calibrate(p, threads=1)
    save_profile(profile, path)
    return profile


def measured_set(p: int, plan: Plan) -> list[Candidate]:
    """Every algorithm valid for P at its default layout, and the planner's choice."""
    runs = [Candidate(plan_grid("1d", p)), Candidate(plan_grid("2d", p)),
            Candidate(plan_grid("3d", p)), Candidate(plan_grid("sa1d", p), "metis")]
    if max(valid_replications(p)) > 1:
        runs += [Candidate(plan_grid("1.5d", p, replication=2)),
                 Candidate(plan_grid("sa1.5d", p, replication=2), "metis")]
    choice = plan.choice
    if choice is not None and choice.candidate not in runs:
        runs.append(choice.candidate)
    return runs


def run(dataset: str, p: int, candidate: Candidate, config: TrainConfig) -> dict[str, Any]:
    settings = candidate.settings()
    run_config = config.replace(nprocs=p, epochs=EPOCHS, threads=1, trace_memory=True,
                                **settings)
    result = run_training(run_config, timeout_s=900)
    if "error" in result:
        return {"error": result["error"][-600:]}
    timed = result["epochs"][TIMED_FROM:]
    seconds = [e["seconds"] for e in timed]
    return {"epoch_seconds": statistics.median(seconds), "epochs": seconds,
            "comm_seconds": statistics.median(e["comm_seconds"] for e in timed),
            "bytes_per_rank": result["comm"]["bytes_per_epoch_per_rank"],
            "memory_per_rank": result["memory"]["tensor_peak_bytes_per_rank"]}


def plan_case(name: str, p: int, profile: Profile) -> Plan:
    """The planner's predictions for graph ``name`` on ``p`` processes, as ``--algo auto``
    makes them with a calibrated profile (sparse products timed here)."""
    config = config_for(name)
    graph = prepare(load_dataset(GRAPHS[name], str(DATA)), config)
    problem = problem_for(graph, config)
    adjacency = graph.adjacency

    @functools.cache
    def partitions(parts: int, method: str) -> Partition:
        return partition_graph(adjacency, parts, method)

    return make_plan(problem, p, profile, partitions,
                     sparse=measured_sparse(problem, partitions, profile))


def config_for(name: str) -> TrainConfig:
    return TrainConfig(dataset=GRAPHS[name], data_root=str(DATA), hidden=64, dtype="float32")


def compare(name: str, p: int, plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Set each measured row beside its prediction in ``plan``; the case's summary."""
    by_label = {pred.candidate.label: pred for pred in plan.predictions}
    for row in rows:
        predicted, measured = by_label[row["label"]], row["measured"]
        row["predicted"] = predicted.as_dict()
        if "error" in measured:
            continue
        row["time_ratio"] = predicted.epoch_seconds / measured["epoch_seconds"]
        row["bytes_exact"] = row["predicted"]["bytes_per_rank"] == measured["bytes_per_rank"]
        busiest = max(range(p), key=lambda k: measured["memory_per_rank"][k])
        row["memory_ratio"] = (predicted.ranks[busiest].memory.total
                               / measured["memory_per_rank"][busiest])
        print(f"{name} P={p} {row['label']:20s} predicted "
              f"{predicted.epoch_seconds * 1e3:8.1f} ms (comm "
              f"{predicted.comm_seconds * 1e3:6.1f}) measured "
              f"{measured['epoch_seconds'] * 1e3:8.1f} ms (comm "
              f"{measured['comm_seconds'] * 1e3:6.1f}) ratio {row['time_ratio']:.2f} "
              f"bytes exact {row['bytes_exact']} memory ratio {row['memory_ratio']:.2f}",
              flush=True)
    ok = [r for r in rows if "time_ratio" in r]
    best = min(ok, key=lambda r: r["measured"]["epoch_seconds"]) if ok else None
    chosen = plan.choice.candidate.label if plan.choice else None
    chosen_row = next((r for r in ok if r["label"] == chosen), None)
    choice_ratio = (chosen_row["measured"]["epoch_seconds"] / best["measured"]["epoch_seconds"]
                    if best and chosen_row else None)
    return {"graph": name, "p": p, "choice": chosen, "explanation": plan.explanation(),
            "measured_best": best["label"] if best else None, "choice_ratio": choice_ratio,
            "plan_seconds": plan.seconds, "runs": rows,
            "all_predictions": [pred.as_dict() for pred in plan.predictions]}


def sweep_case(name: str, p: int, profile: Profile) -> dict[str, Any]:
    plan = plan_case(name, p, profile)
    rows = [{"label": candidate.label,
             "measured": run(GRAPHS[name], p, candidate, config_for(name))}
            for candidate in measured_set(p, plan)]
    return compare(name, p, plan, rows)


def reprice(cases: list[dict[str, Any]], measure_choices: bool) -> list[dict[str, Any]]:
    """The stored measurements against the current model and profiles: for iterating on
    the model without training again. A choice that was not measured is trained now with
    ``measure_choices``; otherwise it gets no choice ratio."""
    out = []
    for case in cases:
        name, p = case["graph"], case["p"]
        profile = load_profile(str(RESULTS / f"profile-P{p}.json"))
        plan = plan_case(name, p, profile)
        rows = [{"label": r["label"], "measured": r["measured"]} for r in case["runs"]]
        choice = plan.choice
        if measure_choices and choice and choice.candidate.label not in {
                r["label"] for r in rows}:
            rows.append({"label": choice.candidate.label,
                         "measured": run(GRAPHS[name], p, choice.candidate, config_for(name))})
        out.append(compare(name, p, plan, rows))
    return out


def markdown(cases: list[dict[str, Any]]) -> str:
    lines = ["| graph | P | configuration | predicted ms | measured ms | ratio | bytes exact "
             "| memory ratio |", "|---|---|---|---|---|---|---|---|"]
    for case in cases:
        for r in case["runs"]:
            if "time_ratio" not in r:
                lines.append(f"| {case['graph']} | {case['p']} | {r['label']} | failed |||||")
                continue
            lines.append(
                f"| {case['graph']} | {case['p']} | {r['label']} | "
                f"{r['predicted']['epoch_seconds'] * 1e3:.1f} | "
                f"{r['measured']['epoch_seconds'] * 1e3:.1f} | {r['time_ratio']:.2f} | "
                f"{'yes' if r['bytes_exact'] else 'NO'} | {r['memory_ratio']:.2f} |")
    lines += ["", "| graph | P | planner's choice | measured best | choice / best |",
              "|---|---|---|---|---|"]
    for case in cases:
        ratio = case["choice_ratio"]
        lines.append(f"| {case['graph']} | {case['p']} | {case['choice']} | "
                     f"{case['measured_best']} | "
                     f"{'not measured' if ratio is None else f'{ratio:.2f}'} |")
    runs = [r for c in cases for r in c["runs"] if "time_ratio" in r]
    within = sum(abs(r["time_ratio"] - 1) <= THRESHOLD_TIME for r in runs)
    exact = sum(r["bytes_exact"] for r in runs)
    memory = sum(abs(r["memory_ratio"] - 1) <= THRESHOLD_MEMORY for r in runs)
    choices = cases  # a choice that was not measured counts as a miss
    good = sum(c["choice_ratio"] is not None and c["choice_ratio"] <= 1 + THRESHOLD_CHOICE
               for c in choices)
    lines += ["", f"- bytes exact: {exact} of {len(runs)} configurations",
              f"- epoch time within 30%: {within} of {len(runs)}",
              f"- memory within 25%: {memory} of {len(runs)}",
              f"- choice within 15% of the measured best: {good} of {len(choices)}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graphs", nargs="+", default=list(GRAPHS), choices=list(GRAPHS))
    parser.add_argument("--ps", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--recalibrate", action="store_true")
    parser.add_argument("--reprice", action="store_true",
                        help="recompute the predictions of results/sweep.json with the "
                             "current model and profiles, keeping its measurements; a "
                             "choice not measured yet is trained")
    parser.add_argument("--remeasure", nargs="+", default=[], metavar="GRAPH:P",
                        help="with --reprice: train these cases of results/sweep.json "
                             "again, whole (e.g. after another process disturbed them)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.reprice:
        payload = json.loads((RESULTS / "sweep.json").read_text())
        again = {(name, int(p)) for name, p in (item.split(":") for item in args.remeasure)}
        payload["cases"] = [sweep_case(c["graph"], c["p"], profile_for(c["p"], False))
                            if (c["graph"], c["p"]) in again else c for c in payload["cases"]]
        payload["cases"] = reprice(payload["cases"], measure_choices=True)
        payload["repriced_with"] = code_version()
        write_results(payload)
        print(markdown(payload["cases"]))
        return
    cases = []
    for p in args.ps:
        profile = profile_for(p, args.recalibrate)
        for name in args.graphs:
            cases.append(sweep_case(name, p, profile))
            payload = {"machine": {"cpu": platform.processor() or platform.machine(),
                                   "cores": torch.get_num_threads(),
                                   "python": platform.python_version(),
                                   "torch": torch.__version__},
                       "code": code_version(), "graphs": GRAPHS, "epochs": EPOCHS,
                       "model": "gcn, 2 layers, hidden 64, float32, one thread per process",
                       "cases": cases}
            write_results(payload)
    print(markdown(cases))


def write_results(payload: dict[str, Any]) -> None:
    (RESULTS / "sweep.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / "sweep.md").write_text(markdown(payload["cases"]))


if __name__ == "__main__":
    main()
