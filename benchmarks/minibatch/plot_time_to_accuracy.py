"""Plots of ``time_to_accuracy.py``'s JSON: validation accuracy against training wall time
(log scale) and against epochs, one figure per graph, the 95% target as a dashed line.

Run::

    .venv/bin/python benchmarks/minibatch/plot_time_to_accuracy.py \
        benchmarks/minibatch/results/time_to_accuracy_*.json     # writes the .png beside each
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402


def style(entry: dict[str, Any], batches: list[int]) -> dict[str, Any]:
    """Black for full graph; blue for fanout 10,10, orange for 25,10; the larger batch
    darker; LARS dashed."""
    if entry["mode"] == "full":
        return {"color": "black", "linestyle": "-", "linewidth": 2.0}
    shades = {"10,10": ("#7fb3e0", "#1f4e9c"), "25,10": ("#f5b971", "#b35806")}
    large = entry["batch_size"] == max(batches)
    return {"color": shades[entry["fanout"]][int(large)],
            "linestyle": "--" if entry["optimizer"] == "lars" else "-", "linewidth": 1.5}


def label(entry: dict[str, Any]) -> str:
    if entry["mode"] == "full":
        return "full graph (Adam)"
    optimizer = "LARS" if entry["optimizer"] == "lars" else "Adam"
    return (f"fanout {entry['fanout']}, batch {entry['batch_size']} "
            f"({optimizer}, lr {entry['lr']:g})")


def panel(ax: Axes, report: dict[str, Any], x: str) -> None:
    """One panel: every configuration's validation accuracy against ``x`` (``seconds`` or
    ``epoch``), and the target."""
    entries = report["configurations"]
    batches = [e["batch_size"] for e in entries if e["mode"] != "full"] or [0]
    for entry in entries:
        rows = entry["records"]
        ax.plot([r[x] for r in rows], [r["val_acc"] for r in rows], label=label(entry),
                marker="." if len(rows) <= 30 else None, **style(entry, batches))
    ax.axhline(report["target_val_acc"], color="grey", linestyle=":", linewidth=1.0,
               label=f"95% of best ({report['target_val_acc']:.3f})")
    ax.set_ylabel("validation accuracy")
    ax.grid(True, alpha=0.3)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training wall time, seconds (evaluation excluded; log scale)"
                  if x == "seconds" else "epochs (log scale)")


def plot_file(path: Path) -> Path:
    """The figure of one JSON report, written beside it as ``.png``; returns its path."""
    report = json.loads(Path(path).read_text())
    figure, axes = plt.subplots(1, 2, figsize=(15, 5), sharey=True)
    panel(axes[0], report, "seconds")
    panel(axes[1], report, "epoch")
    handles, labels = axes[1].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=8, loc="center right")
    machine, model = report["machine"], report["model"]
    biases = "with" if model.get("bias", True) else "without"
    figure.suptitle(f"GraphSAGE (hidden {model['hidden']}, {biases} biases) on "
                    f"{report['graph']} ({report['vertices']:,} vertices): full graph vs "
                    f"mini-batch; {machine['threads']} thread{'s' * (machine['threads'] != 1)} of "
                    f"{machine['cpu']}",
                    fontsize=10)
    figure.tight_layout(rect=(0.0, 0.0, 0.8, 1.0))
    out = Path(path).with_suffix(".png")
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    for path in parser.parse_args().reports:
        print(f"wrote {plot_file(path)}")


if __name__ == "__main__":
    main()
