"""How long partitioning a large graph takes, and its memory.

Generates a graph (default: an SBM with 1M vertices and ~10M stored non-zeros), then times each
partitioner into ``--parts`` parts in a fresh child process, so that the peak RSS of the
partition step is its own. Writes ``results/partition_time.json``.

    .venv/bin/python benchmarks/partitioning/bench_partition_time.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
DEFAULT = "sbm:nodes=1000000,blocks=64,degree=10,homophily=0.9,features=1,seed=0"


def _partition_child(spec: str, parts: int, method: str, queue: Any) -> None:
    from pargnn.graph.partition import partition_graph, partition_stats
    from pargnn.graph.synthetic import from_spec

    adjacency = from_spec(spec).adjacency()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    partition = partition_graph(adjacency, parts, method)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = partition_stats(adjacency, partition)
    queue.put({"method": method, "seconds": seconds, "peak_rss_bytes": peak * 1024,
               "peak_rss_before_bytes": before * 1024, "nodes": adjacency.shape[0],
               "nnz": int(adjacency.nnz), "balance": stats.balance,
               "edge_cut": stats.edge_cut, "halo_total": int(sum(stats.halo))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=DEFAULT)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--methods", nargs="+", default=["metis", "random", "block"])
    parser.add_argument("--out", default=str(HERE / "results" / "partition_time.json"))
    args = parser.parse_args()
    rows = []
    context = mp.get_context("spawn")
    for method in args.methods:
        queue = context.Queue()
        child = context.Process(target=_partition_child,
                                args=(args.spec, args.parts, method, queue))
        child.start()
        row = queue.get()
        child.join()
        rows.append(row)
        print(json.dumps(row))
    machine = {"cpu": platform.processor() or platform.machine(),
               "python": platform.python_version(), "torch": torch.__version__}
    Path(args.out).write_text(json.dumps({"spec": args.spec, "parts": args.parts,
                                          "machine": machine, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
