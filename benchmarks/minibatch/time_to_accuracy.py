"""Time to accuracy: full-graph training against sampled mini-batches, on Cora and a 1M SBM.

One model (GraphSAGE, mean aggregation, 2 layers, hidden 64, no biases; see ``--bias``)
trains on one graph in each configuration:

* ``full``: full-graph training, one step per epoch (Adam, lr 0.01);
* ``f10,10-b<small>``, ``f25,10-b<small>``, ``f10,10-b<large>``, ``f25,10-b<large>``: sampled
  mini-batches (fanouts from the seeds outwards), Adam, lr 0.01;
* ``f10,10-b<large>-lars``, ``f25,10-b<large>-lars``: the large batch with LARS (lr 10,
  momentum 0.9, trust coefficient 0.001).

The batches are 1024 and 8192 on the SBM and 32 and 128 on Cora (140 training vertices). After
every epoch pargnn evaluates with full neighbourhoods; the wall time on the x axis is the
training time only (``EpochRecord.seconds``: sampling, gathering, forward, backward, update),
summed over the epochs. The target of a graph is 95% of the best validation accuracy any
configuration reaches on it; each configuration's time and epochs to the target are those of
its first epoch at or above it (``null`` if never).

pargnn's LARS steps 1-D parameters (biases) by plain momentum SGD at its global learning
rate, which at LARS's lr of ~10 throws the output biases around (Cora collapses to one class),
so the model has no biases in every configuration; ``--bias`` runs them with biases.

Run (one process; the JSON goes to ``results/``, the plot beside it)::

    .venv/bin/python benchmarks/minibatch/time_to_accuracy.py --quick          # smoke test
    .venv/bin/python benchmarks/minibatch/time_to_accuracy.py --graph cora --threads 1
    .venv/bin/python benchmarks/minibatch/time_to_accuracy.py --graph sbm --threads 1  # ~25 min
    .venv/bin/python benchmarks/minibatch/time_to_accuracy.py --graph sbm --only full  # rerun one
    .venv/bin/python benchmarks/minibatch/time_to_accuracy.py --table \
        benchmarks/minibatch/results/time_to_accuracy_sbm.json     # its Markdown table
    .venv/bin/python benchmarks/minibatch/plot_time_to_accuracy.py \
        benchmarks/minibatch/results/time_to_accuracy_*.json       # the plots again
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from pargnn import TrainConfig, train
from pargnn.graph.datasets import load_dataset
from pargnn.graph.graph import Graph
from pargnn.training.result import EpochRecord, TrainResult

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/machine.py

from machine import cpu_model  # noqa: E402

RESULTS = HERE / "results"
DATA_ROOT = HERE.parents[2] / "shared" / "datasets"
TARGET_FRACTION = 0.95
SBM = ("sbm:nodes={nodes},blocks=10,degree=16,homophily=0.7,features=32,sigma=2,"
       "train=0.1,val=0.05,seed=0")
LARS_LR = 10.0  # the best of 1, 3, 10, 30 on Cora and a 100k SBM (bias-free model)


@dataclass(frozen=True)
class Setting:
    """One configuration: how it trains and for how many epochs."""

    name: str
    epochs: int
    mode: str = "full"
    batch_size: int | None = None
    fanout: str | None = None
    optimizer: str = "adam"
    lr: float = 0.01

    def options(self) -> dict[str, Any]:
        """The :class:`TrainConfig` fields this setting fixes."""
        sampled = ({} if self.mode == "full" else
                   {"batch_size": self.batch_size, "fanout": self.fanout})
        return {"mode": self.mode, "epochs": self.epochs, "optimizer": self.optimizer,
                "lr": self.lr, **sampled}


@dataclass(frozen=True)
class Benchmark:
    """One graph and its configurations; ``model`` holds the options every run shares."""

    label: str
    dataset: str
    model: dict[str, Any]
    settings: tuple[Setting, ...]


@dataclass
class Timeline:
    """Receives a run's epochs (a :class:`~pargnn.training.loop.TrainObserver`): prints one
    line each and notes the wall clock after each epoch's evaluation."""

    name: str
    started: float = field(default_factory=time.perf_counter)
    wall: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def start(self, result: TrainResult) -> None:
        self.started = time.perf_counter()

    def epoch(self, record: EpochRecord) -> None:
        self.wall.append(time.perf_counter() - self.started)
        self.load.append(os.getloadavg()[0])
        print(f"  {self.name} epoch {record.epoch + 1}: {record.seconds:.2f} s, "
              f"val {record.val_acc:.4f}, loss {record.loss:.4f} "
              f"(wall {self.wall[-1]:.0f} s)", flush=True)

    def end(self, result: TrainResult) -> None:
        pass


def sampled_settings(small: int, large: int, epochs: dict[str, int], lars_lr: float
                     ) -> tuple[Setting, ...]:
    """Full graph, the four Adam mini-batch settings and LARS at the large batch."""
    settings = [Setting("full", epochs["full"])]
    for batch in (small, large):
        for fanout in ("10,10", "25,10"):
            settings.append(Setting(f"f{fanout}-b{batch}", epochs[f"b{batch}"], "minibatch",
                                    batch, fanout))
    for fanout in ("10,10", "25,10"):
        settings.append(Setting(f"f{fanout}-b{large}-lars", epochs[f"b{large}"], "minibatch",
                                large, fanout, "lars", lars_lr))
    return tuple(settings)


def benchmark(graph: str, quick: bool, lars_lr: float, bias: bool) -> Benchmark:
    """The configurations of ``graph`` (``cora`` or ``sbm``; ``quick``: a 100k SBM, few
    epochs); ``bias``: the layers get biases (the label gets ``-bias``)."""
    suffix = "-bias" if bias else ""
    if graph == "cora":
        epochs = {"full": 200, "b32": 50, "b128": 100}
        return Benchmark("cora" + suffix, "cora",
                         {"hidden": 64, "dropout": 0.5, "weight_decay": 5e-4, "bias": bias},
                         sampled_settings(32, 128, epochs, lars_lr))
    model = {"hidden": 64, "dropout": 0.0, "weight_decay": 0.0, "bias": bias}
    if quick:
        epochs = {"full": 10, "b1024": 2, "b8192": 3}
        return Benchmark("sbm-quick" + suffix, SBM.format(nodes=100_000), model,
                         sampled_settings(1024, 8192, epochs, lars_lr))
    epochs = {"full": 200, "b1024": 8, "b8192": 15}
    return Benchmark("sbm" + suffix, SBM.format(nodes=1_000_000), model,
                     sampled_settings(1024, 8192, epochs, lars_lr))


def machine(threads: int) -> dict[str, Any]:
    """The CPU, its cores and the software versions."""
    cpu = cpu_model()
    return {"cpu": cpu, "logical_cpus": mp.cpu_count(), "threads": threads,
            "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), **revision()}


def revision() -> dict[str, Any]:
    """The repository's commit and whether ``src/`` differs from it (``None`` without git)."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    status = git("status", "--porcelain", "--", str(HERE.parents[1] / "src"))
    return {"commit": git("rev-parse", "HEAD"),
            "src_modified": None if status is None else bool(status)}


def records(result: TrainResult, timeline: Timeline) -> list[dict[str, Any]]:
    """Per epoch: epochs trained, cumulative training seconds, accuracies, loss, the wall
    clock since the first epoch started (training and evaluation) and the machine's 1-minute
    load average then."""
    rows, total = [], 0.0
    for record, clock, load in zip(result.epochs, timeline.wall, timeline.load, strict=True):
        total += record.seconds
        rows.append({"epoch": record.epoch + 1, "seconds": total,
                     "epoch_seconds": record.seconds, "val_acc": record.val_acc,
                     "test_acc": record.test_acc, "loss": record.loss, "wall": clock,
                     "load_average": load})
    return rows


def run_setting(bench: Benchmark, setting: Setting, graph: Graph, threads: int
                ) -> dict[str, Any]:
    """Train one configuration and summarise it (without the target, which needs all)."""
    config = TrainConfig(dataset=bench.dataset, model="sage", quiet=True, threads=threads,
                         **bench.model, **setting.options())
    timeline = Timeline(setting.name)
    load, start = os.getloadavg()[0], time.perf_counter()
    result = train(config, graph=graph, observer=timeline)
    rows = records(result, timeline)
    timed = rows[1:] or rows  # the first epoch pays for warm-up
    return {**asdict(setting), "steps_per_epoch": (result.minibatch or {}).get(
                "steps_per_epoch", 1),
            "seconds_per_epoch": sum(r["epoch_seconds"] for r in timed) / len(timed),
            "first_epoch_seconds": rows[0]["epoch_seconds"],
            "best_val_acc": result.val_acc, "best_epoch": result.best_epoch + 1,
            "test_acc_at_best_val": result.test_acc,
            "run_seconds": time.perf_counter() - start, "load_average_before": load,
            "threads": threads, **revision(), "records": rows}


def reach(rows: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """The first epoch whose validation accuracy is at least ``target``: its epochs, its
    cumulative training seconds and its wall clock with the evaluations (all ``None`` if no
    epoch is)."""
    for row in rows:
        if row["val_acc"] >= target:
            return {"seconds": row["seconds"], "epochs": row["epoch"], "wall": row["wall"]}
    return {"seconds": None, "epochs": None, "wall": None}


def add_targets(report: dict[str, Any]) -> None:
    """The target (95% of the best validation accuracy of any configuration) and every
    configuration's time and epochs to reach it."""
    best = max(c["best_val_acc"] for c in report["configurations"])
    report["best_val_acc_any"] = best
    report["target_val_acc"] = TARGET_FRACTION * best
    for entry in report["configurations"]:
        entry["to_target"] = reach(entry["records"], report["target_val_acc"])


def load_graph(bench: Benchmark) -> Graph:
    start = time.perf_counter()
    graph = load_dataset(bench.dataset, str(DATA_ROOT))
    print(f"{bench.label}: {graph.num_nodes:,} vertices, {graph.num_edges:,} edges, "
          f"loaded in {time.perf_counter() - start:.1f} s", flush=True)
    return graph


def run(bench: Benchmark, threads: int, only: list[str] | None, out: Path) -> dict[str, Any]:
    """Every configuration of ``bench``, or only those named in ``only``, which then replace
    their namesakes in an existing ``out`` (a rerun of some keeps the others). The report is
    rewritten to ``out`` after each configuration, so an interrupted run keeps what
    finished."""
    graph = load_graph(bench)
    report: dict[str, Any] = {
        "graph": bench.label, "dataset": bench.dataset, "vertices": graph.num_nodes,
        "edges": graph.num_edges, "model": {"model": "sage", "layers": 2, **bench.model},
        "target_fraction": TARGET_FRACTION, "machine": machine(threads),
        "commands": [" ".join(["python", *sys.argv])]}
    kept = previous(out, report) if only else {}
    if kept:
        report["commands"] = kept.pop("__commands__") + report["commands"]
    entries: dict[str, dict[str, Any]] = {}
    for setting in bench.settings:
        if only and setting.name not in only:
            if setting.name in kept:
                entries[setting.name] = kept[setting.name]
            continue
        print(f"{bench.label}: {setting.name}", flush=True)
        entries[setting.name] = run_setting(bench, setting, graph, threads)
        publish(report, [entries[s.name] for s in bench.settings if s.name in entries], out)
    publish(report, [entries[s.name] for s in bench.settings if s.name in entries], out)
    return report


def publish(report: dict[str, Any], entries: list[dict[str, Any]], out: Path) -> None:
    """``entries`` as the report's configurations, with the targets, written to ``out``."""
    report["configurations"] = entries
    add_targets(report)
    write(out, report)


def previous(out: Path, report: dict[str, Any]) -> dict[str, Any]:
    """The configurations of an earlier report at ``out`` by name, and its commands under
    ``__commands__`` (nothing if there is none); it must be of ``report``'s graph and model."""
    if not out.exists():
        return {}
    earlier = json.loads(out.read_text())
    for key in ("dataset", "model"):
        if earlier.get(key) != report[key]:
            raise SystemExit(f"{out} holds another {key} ({earlier.get(key)!r}); give --out "
                             "or remove it")
    return {"__commands__": earlier.get("commands", []),
            **{entry["name"]: entry for entry in earlier["configurations"]}}


def write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def summary(report: dict[str, Any]) -> str:
    """The report's table in Markdown (accuracies in %; "-": never reached the target)."""
    lines = [f"Target: {100 * report['target_val_acc']:.2f}% validation accuracy (95% of "
             f"{100 * report['best_val_acc_any']:.2f}%, the best of any configuration).", "",
             "| config | epochs run | steps/epoch | s/epoch | best val % | test % at best val | "
             "s to 95% | epochs to 95% | steps to 95% | s to 95% with evaluation |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for c in report["configurations"]:
        hit = c["to_target"]
        reached = hit["epochs"] is not None
        lines.append(
            f"| {c['name']} | {c['epochs']} | {c['steps_per_epoch']} | "
            f"{c['seconds_per_epoch']:.3g} | {100 * c['best_val_acc']:.2f} | "
            f"{100 * c['test_acc_at_best_val']:.2f} | "
            + (f"{hit['seconds']:.3g} | {hit['epochs']} | "
               f"{hit['epochs'] * c['steps_per_epoch']} | {hit['wall']:.3g} |" if reached
               else "- | - | - | - |"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", choices=("cora", "sbm"), default="sbm")
    parser.add_argument("--quick", action="store_true",
                        help="a 100k-vertex SBM and a few epochs (smoke test)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lars-lr", type=float, default=LARS_LR)
    parser.add_argument("--bias", action="store_true",
                        help="layers with biases (LARS then steps them at its global lr)")
    parser.add_argument("--only", nargs="+", default=None, help="configuration names")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: results/time_to_accuracy_<graph>.json")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--table", type=Path, default=None,
                        help="print the Markdown table of this JSON report and stop")
    args = parser.parse_args()
    if args.table:
        report = json.loads(args.table.read_text())
        add_targets(report)
        print(summary(report))
        return
    bench = benchmark(args.graph, args.quick, args.lars_lr, args.bias)
    out = args.out or RESULTS / f"time_to_accuracy_{bench.label}.json"
    report = run(bench, args.threads, args.only, out)
    print(summary(report))
    if not args.no_plot:
        from plot_time_to_accuracy import plot_file

        print(f"wrote {out} and {plot_file(out)}")


if __name__ == "__main__":
    main()
