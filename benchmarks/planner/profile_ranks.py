"""Where a distributed training step spends its time, rank by rank (a diagnostic).

The planner prices a rank's kernels and collectives; the sweep compares the total with the
measured epoch. When they disagree, this script shows why: it trains a few steps of one
layout, then profiles one step on every rank with the PyTorch profiler and prints each
rank's operators by self time. Time a rank spends waiting for its peers shows up in the
collectives (``c10d::...``) and in the autograd Functions that call them.

    .venv/bin/python benchmarks/planner/profile_ranks.py cora 1d 2
    .venv/bin/python benchmarks/planner/profile_ranks.py cora 2d 4 --grid 2x2 --rows 20
    .venv/bin/python benchmarks/planner/profile_ranks.py cora sa1d 4 --partition random
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.launch import WorkerContext, launch
from pargnn.graph.datasets import load_dataset
from pargnn.schedule.full_graph import train_step
from pargnn.training.run import prepare
from pargnn.training.session import build_session

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets"
WARM_UP, TIMED = 3, 5


def rank_profile(ctx: WorkerContext, job: tuple[TrainConfig, int]) -> tuple[float, str]:
    """This rank's median step time and its profiled step's operator table."""
    config, rows = job
    spec = plan_grid(config.algo, ctx.world_size, config.grid, config.replication)
    prepared = prepare(load_dataset(config.dataset, config.data_root), config)
    session = build_session(prepared, config, ctx.device, spec, Communicator(CommLog()))
    algorithm, model = session.algorithm, session.model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    for epoch in range(WARM_UP):
        train_step(model, algorithm, optimizer, epoch)
    seconds = []
    for epoch in range(WARM_UP, WARM_UP + TIMED):
        start = time.perf_counter()
        train_step(model, algorithm, optimizer, epoch)
        seconds.append(time.perf_counter() - start)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(model, algorithm, optimizer, WARM_UP + TIMED)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return statistics.median(seconds), table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("algo")
    parser.add_argument("nprocs", type=int)
    parser.add_argument("--grid", default=None)
    parser.add_argument("--replication", type=int, default=None)
    parser.add_argument("--partition", default=None, help="for sa1d and sa1.5d")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--rows", type=int, default=14, help="operators shown per rank")
    args = parser.parse_args()
    config = TrainConfig(dataset=args.dataset, data_root=str(DATA), hidden=args.hidden,
                         algo=args.algo, grid=args.grid, replication=args.replication,
                         partition=args.partition,
                         nprocs=args.nprocs, threads=1)
    config.validate()
    reports = launch(rank_profile, (config, args.rows), args.nprocs, threads_per_process=1)
    for rank, (seconds, table) in enumerate(reports):
        print(f"rank {rank}: median step {seconds * 1e3:.1f} ms ({TIMED} steps)")
        print(table)


if __name__ == "__main__":
    main()
