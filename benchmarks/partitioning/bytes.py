"""Bytes per epoch per rank: broadcast 1D against sparsity-aware 1D with random and METIS parts.

For every graph and P the exact communication model (:mod:`pargnn.algorithms.exact`, held equal to
the communication log to the byte by the test suite) gives each rank's bytes of one GCN
training step (2 layers, hidden 64, float32) for five setups: ``1d`` (CAGNET's broadcast 1D
on contiguous blocks), ``sa1d`` on a random partition, ``sa1d`` on a METIS partition, and, for
``P >= 4``, the replicated pair ``1.5d`` and ``sa1.5d`` (METIS into ``P / 2`` parts) with
``c = 2``. ``--verify GRAPH P`` also trains every setup for real (2 epochs, one thread per
process) and checks each rank's logged bytes against the model.

    .venv/bin/python benchmarks/partitioning/bytes.py
    .venv/bin/python benchmarks/partitioning/bytes.py --verify sbm 8
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pargnn import train
from pargnn.algorithms.exact import predict_epoch
from pargnn.algorithms.registry import PARTITIONED, REPLICATED, plan_grid
from pargnn.config import TrainConfig
from pargnn.graph.datasets import load_dataset
from pargnn.graph.partition import partition_graph, partition_stats
from pargnn.planner.problem import model_steps
from pargnn.training.run import prepare

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "datasets"
GRAPHS = {
    "cora": "cora",
    "citeseer": "citeseer",
    "twitch-engb": "twitch-engb",
    "sbm": "sbm:nodes=100000,blocks=64,degree=12,homophily=0.9,features=64,sigma=1,seed=0",
    "rmat": "rmat:nodes=100000,degree=12,features=64,seed=0",
}
SETUPS = (("1d", "block"), ("sa1d", "random"), ("sa1d", "metis"), ("1.5d", "block"),
          ("sa1.5d", "metis"))
REPLICATION = 2  # c of the replicated setups


def replication(algo: str) -> int:
    return REPLICATION if algo in REPLICATED else 1


def setups(p: int) -> list[tuple[str, str]]:
    return [(a, m) for a, m in SETUPS if p >= replication(a) ** 2]


def config_for(dataset: str, algo: str, partition: str, nprocs: int) -> TrainConfig:
    return TrainConfig(dataset=dataset, data_root=str(DATA), hidden=64, epochs=2, threads=1,
                       quiet=True, nprocs=nprocs, algo=algo,
                       partition=partition if algo in PARTITIONED else None,
                       replication=REPLICATION if algo in REPLICATED else None)


def model_bytes(dataset: str, ps: list[int]) -> list[dict[str, Any]]:
    graph = load_dataset(dataset, DATA)
    base = config_for(dataset, "1d", "block", 2)
    layers, _ = model_steps(base, graph.num_features, graph.num_classes)
    prepared_input = prepare(graph, base)
    adjacency = graph.adjacency()
    rows = []
    for p in ps:
        for algo, method in setups(p):
            partition = partition_graph(adjacency, p // replication(algo), method)
            order = partition.order if algo in PARTITIONED else None
            prepared = prepared_input if order is None else prepared_input.reordered(order)
            spec = plan_grid(algo, p, replication=replication(algo))
            traffic = predict_epoch(spec, graph.num_nodes, prepared.at,
                                    prepared.a, layers, graph.num_classes, value_bytes=4,
                                    offsets=partition.offsets)
            per_rank = [t.total_bytes for t in traffic]
            stats = partition_stats(adjacency, partition)
            rows.append({"p": p, "algo": algo, "partition": method,
                         "max_bytes": max(per_rank), "mean_bytes": float(np.mean(per_rank)),
                         "per_rank": per_rank, "edge_cut": stats.edge_cut,
                         "balance": stats.balance, "halo": list(stats.halo)})
    return rows


def verify(dataset: str, p: int, predicted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for algo, method in setups(p):
        result = train(config_for(dataset, algo, method, p)).to_dict()
        logged = result["comm"]["bytes_per_epoch_per_rank"]
        model = next(r for r in predicted if (r["p"], r["algo"], r["partition"])
                     == (p, algo, method))["per_rank"]
        out.append({"p": p, "algo": algo, "partition": method, "logged": logged,
                    "model": model, "equal": logged == model})
        print(f"verify {dataset} P={p} {algo}/{method}: log == model: {logged == model}")
    return out


def markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| graph | P | 1d MB | sa1d random MB | sa1d METIS MB | METIS / 1d | "
             "METIS edge cut | 1.5d c=2 MB | sa1.5d c=2 METIS MB | sa1.5d / 1.5d |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        for p in sorted({r["p"] for r in rows}):
            by = {(r["algo"], r["partition"]): r for r in rows if r["p"] == p}
            b, rnd, met = by[("1d", "block")], by[("sa1d", "random")], by[("sa1d", "metis")]
            rep, sa_rep = by.get(("1.5d", "block")), by.get(("sa1.5d", "metis"))
            replicated = (f"{rep['max_bytes'] / 1e6:.2f} | {sa_rep['max_bytes'] / 1e6:.2f} | "
                          f"{sa_rep['max_bytes'] / rep['max_bytes']:.3f}"
                          if rep and sa_rep else "- | - | -")
            lines.append(
                f"| {name} | {p} | {b['max_bytes'] / 1e6:.2f} | {rnd['max_bytes'] / 1e6:.2f} | "
                f"{met['max_bytes'] / 1e6:.2f} | {met['max_bytes'] / b['max_bytes']:.3f} | "
                f"{met['edge_cut']:.3f} | {replicated} |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), sharey=False)
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for algo, method in SETUPS:
            pts = sorted((r["p"], r["max_bytes"] / 1e6) for r in rows
                         if (r["algo"], r["partition"]) == (algo, method))
            label = {"1d": "1d (broadcast)", "1.5d": "1.5d c=2 (broadcast)",
                     "sa1.5d": f"sa1.5d c=2 {method}"}.get(algo, f"{algo} {method}")
            ax.plot(*zip(*pts, strict=True), marker="o", label=label,
                    linestyle="--" if algo in REPLICATED else "-")
        ax.set_title(name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("P")
    np.atleast_1d(axes)[0].set_ylabel("MB per epoch, busiest rank")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graphs", nargs="+", default=list(GRAPHS))
    parser.add_argument("--ps", nargs="+", type=int, default=[2, 4, 8, 16])
    parser.add_argument("--verify", nargs=2, metavar=("GRAPH", "P"))
    args = parser.parse_args()
    results = {name: model_bytes(GRAPHS[name], args.ps) for name in args.graphs}
    payload: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "graphs": {name: GRAPHS[name] for name in args.graphs},
        "model": "gcn, 2 layers, hidden 64, float32", "results": results}
    if args.verify:
        name, p = args.verify[0], int(args.verify[1])
        payload["verified"] = {name: verify(GRAPHS[name], p, results[name])}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "bytes.json").write_text(json.dumps(payload, indent=1))
    (out / "bytes.md").write_text(markdown(results))
    plot(results, out / "bytes_vs_p.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
