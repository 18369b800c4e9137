"""pargnn's single-process epoch against torch-geometric's, on one R-MAT graph, in one run.

Both sides train the same 2-layer model on the same graph with the same thread count:
GCN against ``GCNConv`` (hidden 128), or GAT against ``GATConv`` (8 heads x 16 = 128 hidden,
one output head, attention dropout as input dropout); dropout 0.5, Adam. Epochs alternate
(pargnn, baseline, pargnn, ...) so that any drift of the machine touches both sides alike;
the report gives medians and their ratio.

Beside the baseline, the pargnn epoch is set against its kernel floor: the time of exactly the
SpMMs the epoch performs (:func:`pargnn.cost.estimate.spmm_work`), run alone on the same operator.

Peak memory is measured in two fresh child processes (one per side) that build the graph,
record their resident set, train a few epochs and report the peak; the difference is the
training state's peak.

Run (after ``make bench-deps``)::

    .venv/bin/python benchmarks/single_process/bench_epoch.py              # GCN
    .venv/bin/python benchmarks/single_process/bench_epoch.py --model gat
    .venv/bin/python benchmarks/single_process/bench_epoch.py --quick      # a smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.algorithms.recording import model_steps
from pargnn.algorithms.single import SingleProcess
from pargnn.config import TrainConfig
from pargnn.cost.estimate import spmm_work
from pargnn.graph.graph import Graph
from pargnn.graph.synthetic import rmat
from pargnn.nn.models import GraphModel
from pargnn.training.memory import current_rss_bytes, peak_rss_bytes, reset_peak_rss
from pargnn.training.run import prepare
from pargnn.training.session import build_session, configured_model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/machine.py

from machine import cpu_model  # noqa: E402

Step = Callable[[], None]


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    return {
        "cpu": cpu,
        "logical_cpus": mp.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def model_config(args: argparse.Namespace) -> TrainConfig:
    per_head = args.hidden // args.heads if args.model == "gat" else args.hidden
    return TrainConfig(model=args.model, hidden=per_head, heads=args.heads, layers=args.layers,
                       dropout=0.5, feature_norm="none", device="cpu")


def make_graph(args: argparse.Namespace) -> Graph:
    return rmat(nodes=args.nodes, degree=args.degree, features=args.features,
                classes=args.classes, seed=0)


def pargnn_step(graph: Graph, args: argparse.Namespace) -> tuple[Step, Step]:
    """A training step of pargnn's model, and the SpMM-only floor of that step."""
    config = model_config(args)
    session = build_session(prepare(graph, config), config, torch.device("cpu"))
    algorithm, model = session.algorithm, session.model
    assert isinstance(algorithm, SingleProcess)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    data = algorithm.data
    epoch = [0]

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        logits = model(algorithm, data.features, epoch=epoch[0])
        algorithm.cross_entropy(logits, data.train_mask).backward()
        optimizer.step()
        epoch[0] += 1

    op = algorithm.operator
    operands = [
        (op.at if w.direction == "forward" else op.a, torch.randn(graph.num_nodes, w.width))
        for w in spmm_work(model_steps(model))
    ]

    def floor() -> None:
        for matrix, dense in operands:
            torch.sparse.mm(matrix, dense)

    return step, floor


def gemm_floor(model: GraphModel, n: int) -> Step:
    """The dense products of one step: ``H W`` forward, ``H^T G`` and (past the first layer)
    ``G W^T`` backward."""
    products = []
    for index, conv in enumerate(model.layers()):
        h, w = torch.randn(n, conv.in_features), torch.randn(conv.in_features, conv.out_features)
        g = torch.randn(n, conv.out_features)
        products += [(h, w), (h.T, g)] + ([(g, w.T)] if index > 0 else [])

    def floor() -> None:
        for a, b in products:
            torch.mm(a, b)

    return floor


def pyg_step(graph: Graph, args: argparse.Namespace) -> Step:
    """The same model with torch-geometric's GCNConv (edge_index input, cached normalisation)
    or GATConv."""
    from torch_geometric.nn import GATConv, GCNConv

    adjacency = graph.adjacency().tocoo()
    edge_index = torch.from_numpy(np.vstack([adjacency.row, adjacency.col]).astype(np.int64))
    x = torch.from_numpy(graph.features)
    y = torch.from_numpy(graph.labels)
    mask = torch.from_numpy(graph.train_mask)
    widths = [graph.num_features] + [args.hidden] * (args.layers - 1) + [graph.num_classes]
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    if args.model == "gat":
        heads = args.heads
        convs = torch.nn.ModuleList(
            GATConv(a, b, heads=1, concat=False, dropout=0.5) if k == len(pairs) - 1
            else GATConv(a, b // heads, heads=heads, dropout=0.5)
            for k, (a, b) in enumerate(pairs))
    else:
        convs = torch.nn.ModuleList(GCNConv(a, b, cached=True) for a, b in pairs)
    optimizer = torch.optim.Adam(convs.parameters(), lr=0.01, weight_decay=5e-4)

    def forward() -> Tensor:
        h = x
        for index, conv in enumerate(convs):
            h = F.dropout(h, 0.5, training=True)
            h = conv(h, edge_index)
            if index < len(convs) - 1:
                h = F.relu(h)
        return h

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(forward()[mask], y[mask]).backward()
        optimizer.step()

    return step


def timed(fn: Step) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(sides: dict[str, Step], warmup: int, rounds: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            times[name].append(timed(fn))
    return times


def memory_child(side: str, args: argparse.Namespace, queue: Any) -> None:
    torch.set_num_threads(args.threads)
    graph = make_graph(args)
    gc.collect()
    resettable = reset_peak_rss()
    before = current_rss_bytes()
    step = pargnn_step(graph, args)[0] if side == "pargnn" else pyg_step(graph, args)
    for _ in range(3):
        step()
    peak = peak_rss_bytes()
    queue.put({"rss_with_graph_bytes": before, "peak_rss_bytes": peak,
               "training_peak_bytes": peak - before if resettable else -1})


def measure_memory(side: str, args: argparse.Namespace) -> dict[str, int]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=memory_child, args=(side, args, queue))
    child.start()
    result: dict[str, int] = queue.get()
    child.join()
    return result


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=131072)
    p.add_argument("--degree", type=int, default=10)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--classes", type=int, default=16)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", choices=("gcn", "gat"), default="gcn")
    p.add_argument("--heads", type=int, default=8, help="GAT heads (hidden is split over them)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="a small graph, for a smoke test")
    p.add_argument("--out", type=Path, default=None, help="default: results/<model>.json")
    args = p.parse_args()
    args.out = args.out or HERE / "results" / f"{args.model}.json"
    if args.quick:
        args.nodes, args.rounds, args.warmup = 8192, 3, 1
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    graph = make_graph(args)
    pargnn, floor = pargnn_step(graph, args)
    model = configured_model(model_config(args), graph.num_features, graph.num_classes)
    sides = {"pargnn": pargnn, "pyg": pyg_step(graph, args), "spmm_floor": floor,
             "gemm_floor": gemm_floor(model, graph.num_nodes)}
    times = alternate(sides, args.warmup, args.rounds)
    med = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "benchmark": f"single_process/{args.model}",
        "machine": machine(),
        "threads": args.threads,
        "graph": graph.summary(),
        "model": {"name": args.model, "layers": args.layers, "hidden": args.hidden,
                  "heads": args.heads if args.model == "gat" else None, "dropout": 0.5},
        "median_epoch_seconds": med,
        "epoch_seconds": times,
        "ratio_pargnn_over_pyg": med["pargnn"] / med["pyg"],
        "ratio_pargnn_over_spmm_floor": med["pargnn"] / med["spmm_floor"],
        "ratio_pargnn_over_spmm_plus_gemm_floor":
            med["pargnn"] / (med["spmm_floor"] + med["gemm_floor"]),
        "memory": {side: measure_memory(side, args) for side in ("pargnn", "pyg")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("graph", "median_epoch_seconds",
                                             "ratio_pargnn_over_pyg",
                                             "ratio_pargnn_over_spmm_floor",
                                             "ratio_pargnn_over_spmm_plus_gemm_floor",
                                             "memory")}, indent=2))


if __name__ == "__main__":
    main()
