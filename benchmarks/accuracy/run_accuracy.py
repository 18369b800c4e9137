"""Test accuracy on the public Planetoid splits, mean +- std over seeds.

Each model trains with its published settings (:data:`PRESETS`): GCN with Kipf & Welling's
(2 layers, hidden 16, dropout 0.5, lr 0.01, weight decay 5e-4, 200 epochs), GAT with
Velickovic et al.'s (8 heads x 8 hidden, ELU, dropout 0.6 on inputs and attention, lr 0.005,
weight decay 5e-4; they stopped early with a patience of 100 epochs, which ends between a few
hundred and a thousand epochs: we train 500); GraphSAGE and GIN with the GCN settings. The
test accuracy of each run is the one at its best validation epoch.

Run (the offline datasets live in ../shared/datasets beside the repository)::

    .venv/bin/python benchmarks/accuracy/run_accuracy.py                      # GCN
    .venv/bin/python benchmarks/accuracy/run_accuracy.py --model gat
    .venv/bin/python benchmarks/accuracy/run_accuracy.py --model sage --datasets cora
    .venv/bin/python benchmarks/accuracy/run_accuracy.py --model sage --datasets cora \
        --mode minibatch --batch-size 32 --fanout 10,10           # sampled mini-batches
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from pargnn import TrainConfig, train
from pargnn.graph.datasets import load_dataset

HERE = Path(__file__).resolve().parent
PRESETS: dict[str, dict[str, object]] = {
    "gcn": {"hidden": 16, "dropout": 0.5, "lr": 0.01, "weight_decay": 5e-4},
    "gat": {"hidden": 8, "heads": 8, "dropout": 0.6, "lr": 0.005, "weight_decay": 5e-4,
            "activation": "elu", "epochs": 500},
    "sage": {"hidden": 16, "dropout": 0.5, "lr": 0.01, "weight_decay": 5e-4},
    "gin": {"hidden": 16, "dropout": 0.5, "lr": 0.01, "weight_decay": 5e-4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=str(HERE.parents[2] / "shared" / "datasets"))
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    parser.add_argument("--model", default="gcn")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200, help="unless the preset says")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="full", choices=("full", "minibatch"))
    parser.add_argument("--batch-size", type=int, default=None, help="--mode minibatch")
    parser.add_argument("--fanout", default=None, help="--mode minibatch, e.g. 10,10")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: results/<model>.json")
    args = parser.parse_args()
    suffix = "" if args.mode == "full" else f"-minibatch-b{args.batch_size}-f{args.fanout}"
    args.out = args.out or HERE / "results" / f"{args.model}{suffix}.json"
    sampled = ({} if args.mode == "full" else
               {"mode": "minibatch", "batch_size": args.batch_size, "fanout": args.fanout})

    settings = vars(args) | {"out": str(args.out), "preset": PRESETS[args.model]}
    report: dict[str, object] = {"settings": settings, "results": {}}
    for name in args.datasets:
        graph = load_dataset(name, args.data_root)
        accuracies, start = [], time.perf_counter()
        for seed in range(args.seeds):
            settings = {"epochs": args.epochs} | PRESETS[args.model] | sampled
            config = TrainConfig(dataset=name, data_root=args.data_root, model=args.model,
                                 seed=seed, threads=args.threads, quiet=True,
                                 **settings)  # type: ignore[arg-type]
            accuracies.append(train(config, graph=graph).test_acc)
        summary = {
            "test_acc": accuracies,
            "mean": statistics.mean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "seconds": time.perf_counter() - start,
        }
        report["results"][name] = summary  # type: ignore[index]
        print(f"{name}: {100 * summary['mean']:.2f} +- {100 * summary['std']:.2f} "
              f"over {args.seeds} seeds ({summary['seconds']:.1f} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
