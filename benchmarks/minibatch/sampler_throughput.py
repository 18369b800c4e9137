"""Neighbour-sampler throughput per thread: pargnn against a per-seed loop and the copy bandwidth.

On a 1M-vertex SBM and an R-MAT of the same size and average degree, with one thread
(``torch.set_num_threads(1)``), fanout 15,10,5 (from the seeds outwards) and batches of 1024
training seeds, all in one run:

* pargnn's :class:`~pargnn.sampling.NeighborSampler` (keyed Floyd draws, relabelling, the
  blocks' scipy CSR): sampled edges per second and milliseconds per batch;
* a plain per-seed reference loop written here in Python/numpy: for every destination of a
  hop ``rng.choice`` of ``min(f, d)`` of its ``d`` in-neighbours without replacement, relabelled
  with a dict, giving per-hop (row, local source, weight) lists and the hop's sources;
* the machine's copy bandwidth (a 512 MiB ``np.copyto`` and ``Tensor.copy_`` into allocated
  memory, one thread), against which the sampler's output is set: each sampled edge is counted
  as 16 bytes (an int64 source index and a float64 weight), a lower bound on what it writes;
* torch-geometric's ``NeighborLoader`` where it can run (it needs ``pyg-lib`` or
  ``torch-sparse``); otherwise the JSON records why it cannot.

pargnn and the reference take turns (a third of each side's batches per round) so that the
load of a shared machine touches both alike; the figures are total edges over total seconds.

An edge is a non-zero of a block (``SampledBatch.edges``); the graphs are prepared with
``mean`` normalisation, which adds no self-loops, so every edge is a drawn neighbour.

Run::

    .venv/bin/python benchmarks/minibatch/sampler_throughput.py            # writes the JSON
    .venv/bin/python benchmarks/minibatch/sampler_throughput.py --quick    # 100k vertices
    .venv/bin/python benchmarks/minibatch/sampler_throughput.py --quick --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import os
import platform
import pstats
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.algorithms.prepare import prepare_graph
from pargnn.graph.datasets import load_dataset
from pargnn.sampling import NeighborSampler, SeedBatches
from pargnn.sampling.neighbors import sampling_key

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/machine.py

from machine import cpu_model  # noqa: E402

SHARED = "features=16,train=0.1,val=0.1"
SPECS = {
    "sbm": "sbm:nodes={n},blocks=10,degree=16,homophily=0.8," + SHARED,
    "rmat": "rmat:nodes={n},degree=16,classes=10," + SHARED,
}
EDGE_BYTES = 16  # an int64 source index + a float64 weight per sampled edge
Side = Callable[[int, Tensor], int]  # (batch index, seeds) -> edges drawn


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    return {"cpu": cpu, "logical_cpus": mp.cpu_count(), "threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform(), "load_average_1min": os.getloadavg()[0]}


# ---------------------------------------------------------------- graphs and seeds


def load(spec: str) -> tuple[sp.csr_array, Tensor, dict[str, Any]]:
    """The prepared ``A^T`` (mean normalisation), the training ids and the graph's facts."""
    start = time.perf_counter()
    graph = load_dataset(spec)
    prepared = prepare_graph(graph, "mean", "auto")
    seconds = time.perf_counter() - start
    at = prepared.at
    degrees = np.diff(at.indptr)
    train = torch.from_numpy(np.flatnonzero(prepared.train_mask)).to(torch.int64)
    facts = {"spec": spec, "vertices": int(at.shape[0]), "stored_edges": int(at.nnz),
             "max_in_degree": int(degrees.max()), "isolated": int((degrees == 0).sum()),
             "train_vertices": int(train.shape[0]), "build_seconds": seconds}
    return at, train, facts


def seed_batches(train: Tensor, batch_size: int, count: int) -> list[Tensor]:
    """The first ``count`` batches of epoch 0, as training draws them."""
    batches = SeedBatches(train, batch_size, seed=0).batches(0)
    return [seeds for _, _, seeds in list(batches)[:count]]


# ---------------------------------------------------------------- pargnn


def pargnn_side(sampler: NeighborSampler, fanouts: tuple[int, ...]) -> Side:
    def run(index: int, seeds: Tensor) -> int:
        keys = [sampling_key(0, 0, index, hop) for hop in range(len(fanouts))]
        return sampler.sample(seeds, fanouts, keys).edges

    return run


def interleaved(sides: dict[str, Side], counts: dict[str, int], batches: list[Tensor],
                first: int) -> dict[str, dict[str, Any]]:
    """Edges per second of each side over ``counts[side]`` of ``batches`` from ``first`` on.

    The sides take turns in ``min(counts)`` rounds (each round a share of every side's
    batches), so that a drift of the shared machine touches all of them alike.
    """
    rounds = min(counts.values())
    totals = {name: [0, 0.0] for name in sides}
    for r in range(rounds):
        for name, run in sides.items():
            count = counts[name]
            for index in range(first + r * count // rounds, first + (r + 1) * count // rounds):
                start = time.perf_counter()
                totals[name][0] += run(index, batches[index])
                totals[name][1] += time.perf_counter() - start
    return {name: rates(int(e), t, counts[name]) for name, (e, t) in totals.items()}


def hop_shape(sampler: NeighborSampler, seeds: Tensor, fanouts: tuple[int, ...]
              ) -> list[dict[str, int]]:
    """Per hop (from the seeds outwards): destinations, sources and edges of one batch."""
    keys = [sampling_key(0, 0, 0, hop) for hop in range(len(fanouts))]
    blocks = sampler.sample(seeds, fanouts, keys).blocks[::-1]
    return [{"fanout": f, "destinations": b.destinations, "sources": int(b.source_ids.shape[0]),
             "edges": b.edges} for f, b in zip(fanouts, blocks, strict=True)]


def rates(edges: int, seconds: float, batches: int) -> dict[str, Any]:
    return {"batches": batches, "edges": edges, "seconds": seconds,
            "edges_per_batch": edges / batches, "ms_per_batch": 1e3 * seconds / batches,
            "edges_per_second": edges / seconds}


# ---------------------------------------------------------------- the per-seed reference


@dataclass
class ReferenceHop:
    """One hop of the reference: per edge its destination row, local source and weight."""

    rows: list[int]
    cols: list[int]
    weights: list[float]
    sources: list[int]  # global ids, destinations first, then first appearances


def reference_hop(at: sp.csr_array, destinations: list[int], fanout: int,
                  rng: np.random.Generator) -> ReferenceHop:
    """``min(fanout, d)`` in-neighbours of each destination, one ``rng.choice`` per vertex."""
    indptr, indices, values = at.indptr, at.indices, at.data
    local = {v: i for i, v in enumerate(destinations)}
    hop = ReferenceHop([], [], [], list(destinations))
    for row, j in enumerate(destinations):
        lo, hi = int(indptr[j]), int(indptr[j + 1])
        d = hi - lo
        if d == 0:
            continue
        picks = lo + (rng.choice(d, fanout, replace=False) if d > fanout else np.arange(d))
        scale = d / picks.shape[0]
        for i, w in zip(indices[picks].tolist(), values[picks].tolist(), strict=True):
            c = local.get(i)
            if c is None:
                c = local[i] = len(hop.sources)
                hop.sources.append(i)
            hop.rows.append(row)
            hop.cols.append(c)
            hop.weights.append(w * scale)
    return hop


def reference_sample(at: sp.csr_array, seeds: Tensor, fanouts: tuple[int, ...],
                     rng: np.random.Generator) -> list[ReferenceHop]:
    hops, frontier = [], seeds.tolist()
    for fanout in fanouts:
        hops.append(reference_hop(at, frontier, fanout, rng))
        frontier = hops[-1].sources
    return hops


def reference_side(at: sp.csr_array, fanouts: tuple[int, ...]) -> Side:
    rng = np.random.default_rng(0)

    def run(index: int, seeds: Tensor) -> int:
        return sum(len(hop.rows) for hop in reference_sample(at, seeds, fanouts, rng))

    return run


# ---------------------------------------------------------------- copy bandwidth


def copy_bandwidth(mib: int, repeats: int = 5) -> dict[str, float]:
    """Best-of-``repeats`` GB/s (10^9 bytes copied per second: each read once, written once)."""
    source = np.ones(mib * 2**20 // 8, dtype=np.float64)
    target = np.empty_like(source)
    tensor, into = torch.from_numpy(source), torch.from_numpy(target)

    def best(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return source.nbytes / min(times) / 1e9

    return {"mib": mib, "numpy_copyto_gb_s": best(lambda: np.copyto(target, source)),
            "torch_copy_gb_s": best(lambda: into.copy_(tensor))}


# ---------------------------------------------------------------- torch-geometric


def pyg_loader(at: sp.csr_array, seeds: Tensor, fanouts: tuple[int, ...]) -> Any:
    """A ``NeighborLoader`` over ``at``'s edges (source -> destination) yielding ``seeds``."""
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    coo = at.tocoo()
    edge_index = torch.from_numpy(np.stack((coo.col, coo.row)).astype(np.int64))
    data = Data(edge_index=edge_index, num_nodes=at.shape[0])
    return NeighborLoader(data, num_neighbors=list(fanouts), batch_size=seeds.shape[0],
                          input_nodes=seeds, shuffle=False)


def pyg_available(fanouts: tuple[int, ...]) -> str | None:
    """``None`` when ``NeighborLoader`` samples a batch here; otherwise why it cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pyg-lib's deprecation notice
            ring = sp.csr_array(sp.eye(64, k=1) + sp.eye(64, k=-1))
            next(iter(pyg_loader(ring, torch.arange(8), fanouts)))
    except Exception as e:  # noqa: BLE001 - any failure is the reason it cannot run
        return f"{type(e).__name__}: {e}"
    return None


def time_pyg(at: sp.csr_array, batches: list[Tensor], fanouts: tuple[int, ...], warmup: int
             ) -> dict[str, Any]:
    loader = pyg_loader(at, torch.cat(batches), fanouts)
    edges, seconds, start = 0, 0.0, time.perf_counter()
    for index, batch in enumerate(loader):
        if index >= warmup:
            edges += int(batch.edge_index.shape[1])
            seconds += time.perf_counter() - start
        start = time.perf_counter()
    return rates(edges, seconds, len(batches) - warmup)


# ---------------------------------------------------------------- one graph


def profile_batch(sampler: NeighborSampler, seeds: Tensor, fanouts: tuple[int, ...]) -> None:
    keys = [sampling_key(0, 0, 0, hop) for hop in range(len(fanouts))]
    profiler = cProfile.Profile()
    profiler.runcall(sampler.sample, seeds, fanouts, keys)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def bench_graph(name: str, spec: str, args: argparse.Namespace, copy_gb_s: float,
                pyg_reason: str | None) -> dict[str, Any]:
    at, train, facts = load(spec)
    print(f"{name}: {facts['vertices']:,} vertices, {facts['stored_edges']:,} edges, "
          f"max in-degree {facts['max_in_degree']:,} (built in {facts['build_seconds']:.1f} s)")
    batches = seed_batches(train, args.batch_size, args.warmup + args.batches)
    sampler = NeighborSampler(at)
    if args.profile:
        profile_batch(sampler, batches[0], args.fanouts)
    ours_side = pargnn_side(sampler, args.fanouts)
    for index in range(args.warmup):
        ours_side(index, batches[index])
    timed = interleaved({"pargnn": ours_side, "reference": reference_side(at, args.fanouts)},
                        {"pargnn": args.batches, "reference": args.reference_batches},
                        batches, first=args.warmup)
    ours, reference = timed["pargnn"], timed["reference"]
    output_gb_s = ours["edges_per_second"] * EDGE_BYTES / 1e9
    result = {"graph": facts, "hops": hop_shape(sampler, batches[0], args.fanouts),
              "pargnn": ours, "reference": reference,
              "speedup_over_reference": ours["edges_per_second"] / reference["edges_per_second"],
              "output_gb_s": output_gb_s, "fraction_of_copy_bandwidth": output_gb_s / copy_gb_s}
    if pyg_reason is None:
        result["pyg"] = time_pyg(at, batches, args.fanouts, args.warmup)
        result["speedup_over_pyg"] = (ours["edges_per_second"]
                                      / result["pyg"]["edges_per_second"])
    else:
        result["pyg"] = {"status": f"cannot run here: {pyg_reason}"}
    return result


# ---------------------------------------------------------------- report


def print_table(results: dict[str, Any], copy: dict[str, float]) -> None:
    print(f"\ncopy bandwidth (1 thread, {copy['mib']} MiB): np.copyto "
          f"{copy['numpy_copyto_gb_s']:.2f} GB/s, Tensor.copy_ {copy['torch_copy_gb_s']:.2f} GB/s")
    header = ("graph", "side", "edges/batch", "ms/batch", "Medges/s", "ratio")
    print("\n{:<6} {:<10} {:>12} {:>10} {:>9} {:>22}".format(*header))
    for name, r in results.items():
        rows = [("pargnn", r["pargnn"], f"{r['speedup_over_reference']:.1f}x reference"),
                ("reference", r["reference"], "1")]
        if "edges_per_second" in r["pyg"]:
            rows.append(("pyg", r["pyg"], f"{r['speedup_over_pyg']:.2f}x pyg"))
        for side, m, ratio in rows:
            print(f"{name:<6} {side:<10} {m['edges_per_batch']:>12,.0f} {m['ms_per_batch']:>10.1f}"
                  f" {m['edges_per_second'] / 1e6:>9.2f} {ratio:>22}")
        print(f"{name:<6} output {r['output_gb_s']:.3f} GB/s at {EDGE_BYTES} B/edge = "
              f"{100 * r['fraction_of_copy_bandwidth']:.1f}% of copy bandwidth")
        if "status" in r["pyg"]:
            print(f"{name:<6} torch-geometric: {r['pyg']['status']}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k vertices, fewer batches")
    parser.add_argument("--nodes", type=int, default=None, help="vertices (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--fanouts", type=lambda s: tuple(int(f) for f in s.split(",")),
                        default=(15, 10, 5))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batches", type=int, default=None, help="timed batches (20)")
    parser.add_argument("--reference-batches", type=int, default=None, help="(3)")
    parser.add_argument("--copy-mib", type=int, default=512)
    parser.add_argument("--profile", action="store_true", help="cProfile one batch per graph")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default: sampler_throughput.json, none with --quick)")
    args = parser.parse_args()
    quick = args.quick
    args.nodes = args.nodes or (100_000 if quick else 1_000_000)
    args.batches = args.batches or (5 if quick else 20)
    args.reference_batches = args.reference_batches or (1 if quick else 3)
    if args.out is None and not quick:
        args.out = HERE / "sampler_throughput.json"
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    host = machine()
    copy = copy_bandwidth(args.copy_mib)
    copy_gb_s = copy["numpy_copyto_gb_s"]
    pyg_reason = pyg_available(args.fanouts)
    results = {name: bench_graph(name, spec.format(n=args.nodes), args, copy_gb_s, pyg_reason)
               for name, spec in SPECS.items()}
    print_table(results, copy)
    host["load_average_1min_at_end"] = os.getloadavg()[0]
    report = {"machine": host, "settings": {
        "batch_size": args.batch_size, "fanouts": list(args.fanouts), "warmup": args.warmup,
        "timed_batches": args.batches, "reference_batches": args.reference_batches,
        "edge_bytes": EDGE_BYTES, "normalization": "mean"},
        "copy_bandwidth": copy, "torch_geometric": pyg_reason or "runs", "graphs": results}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
