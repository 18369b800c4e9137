"""Time and memory of the synthetic generators at 1M vertices / 10M stored edges.

Each generator runs in a fresh child process so that its peak resident set is its own.

Run::

    .venv/bin/python benchmarks/synthetic/bench_generate.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPECS = (
    "rmat:nodes=1000000,degree=10,features=128,classes=16",
    "sbm:nodes=1000000,blocks=16,degree=10,homophily=0.8,features=128",
)


def child(spec: str, queue: Any) -> None:
    from pargnn.graph.synthetic import from_spec
    from pargnn.training.memory import current_rss_bytes, peak_rss_bytes

    base = current_rss_bytes()
    start = time.perf_counter()
    graph = from_spec(spec)
    seconds = time.perf_counter() - start
    queue.put({"spec": spec, "seconds": seconds, "nodes": graph.num_nodes,
               "edges": graph.num_edges, "peak_rss_bytes": peak_rss_bytes(),
               "peak_above_start_bytes": peak_rss_bytes() - base})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "generate.json")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    for spec in SPECS:
        queue = ctx.Queue()
        process = ctx.Process(target=child, args=(spec, queue))
        process.start()
        results.append(queue.get())
        process.join()
        r = results[-1]
        print(f"{spec}: {r['seconds']:.1f} s, {r['nodes']:,} vertices, {r['edges']:,} edges, "
              f"peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
