"""Plots of the algorithm sweep: bytes per rank and state per rank against P.

Reads ``results/sweep.json`` (written by ``sweep.py``) and writes

* ``results/bytes_vs_p.png``: left, the measured bytes per rank per epoch (max over ranks) as
  markers and pargnn's exact model as lines, extended without running to P = 64 (the model
  needs the graph and the grid, no processes); right, CAGNET's asymptotic bandwidth formulas
  for the same grids, as bytes (4-byte words), on the same axis.
* ``results/memory_vs_p.png``: the state a rank keeps (sparse blocks + vertex data, max over
  ranks) per algorithm, with CAGNET's memory column as dashed references.
* ``results/model_lines.json``: the numbers behind the lines.

Run from the repository root, after the sweep::

    .venv/bin/python benchmarks/algorithms/plot.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from costs import (  # noqa: E402
    Problem,
    cagnet_bytes,
    cagnet_memory_bytes,
    default_spec,
    exact_traffic,
    load_problem,
)
from matplotlib.axes import Axes  # noqa: E402

from pargnn.config import TrainConfig  # noqa: E402
from pargnn.layout.spec import GridSpec, valid_replications  # noqa: E402

HERE = Path(__file__).resolve().parent
LINE_PS = (2, 4, 8, 16, 32, 64)
COLORS = {"1d": "tab:blue", "1.5d": "tab:orange", "1.5d max c": "tab:red", "2d": "tab:green",
          "3d": "tab:purple"}
MARKERS = {"1d": "o", "1.5d": "s", "2d": "^", "3d": "D"}
# Markers are nudged sideways (a factor on P) so that equal values stay visible.
NUDGE = {"1d": 2**-0.08, "1.5d c=2": 2**-0.04, "1.5d c=4": 2**0.0, "2d": 2**0.04,
         "3d": 2**0.08}
# Dashed lines: one pattern in two phases, so two curves that coincide show both colours.
DASHES = {"1d": (0, (5, 5)), "2d": (5, (5, 5)), "3d": (0, (5, 5)), "1.5d": (5, (5, 5)),
          "1.5d max c": (0, (5, 5))}


def line_specs(p: int) -> dict[str, GridSpec]:
    """The grid each model line uses at ``p``: defaults, 1.5D with c = 2 and the largest c."""
    specs = {"1d": default_spec("1d", p), "2d": default_spec("2d", p),
             "3d": default_spec("3d", p)}
    if 2 in valid_replications(p):
        specs["1.5d"] = default_spec("1.5d", p, 2)
    largest = max(valid_replications(p))
    if largest > 2:
        specs["1.5d max c"] = default_spec("1.5d", p, largest)
    return {name: spec for name, spec in specs.items() if spec is not None}


def model_lines(problem: Problem, ps: tuple[int, ...]) -> dict[str, list[dict[str, Any]]]:
    """Exact-model max bytes and CAGNET bytes per line, per P."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for p in ps:
        for name, spec in line_specs(p).items():
            exact = max(t.total_bytes for t in exact_traffic(problem, spec))
            lines.setdefault(name, []).append({
                "P": p, "grid": spec.describe(), "exact_bytes_max": exact,
                "cagnet_bytes": cagnet_bytes(problem, spec),
                "cagnet_memory_bytes": cagnet_memory_bytes(problem, spec)})
    return lines


def line_label(name: str, points: list[dict[str, Any]]) -> str:
    if name == "1.5d":
        return "1.5d c=2"
    if name == "1.5d max c":
        cs = ", ".join(f"{q['grid'].split('x')[1]} at P={q['P']}" for q in points)
        return f"1.5d largest c ({cs})"
    return f"{name} default grid"


def tag(run: dict[str, Any]) -> str:
    return f"{run['algo']} c={run['c']}" if run["algo"] == "1.5d" else run["algo"]


def style_axis(ax: Axes, title: str, ylabel: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("P (processes)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def plot_lines(ax: Axes, lines: dict[str, list[dict[str, Any]]], key: str, dashed: bool,
               ) -> None:
    for name, points in lines.items():
        ax.plot([q["P"] for q in points], [q[key] for q in points], color=COLORS[name],
                linestyle=DASHES[name] if dashed else "-", linewidth=1.4,
                label=line_label(name, points))


def plot_measured(ax: Axes, runs: list[dict[str, Any]], key: str) -> None:
    """Markers, one legend entry per algorithm; 1.5d c=4 filled differently."""
    labelled: set[str] = set()
    for run in runs:
        if key not in run:
            continue
        algo, name = run["algo"], tag(run)
        color = COLORS["1.5d max c"] if algo == "1.5d" and run["c"] > 2 else COLORS[algo]
        ax.scatter([run["P"] * NUDGE.get(name, 1.0)], [run[key]], marker=MARKERS[algo], s=55,
                   color=color, edgecolors="black", linewidths=0.6, zorder=3,
                   label=f"{name} measured" if name not in labelled else None)
        labelled.add(name)


def bytes_figure(runs: list[dict[str, Any]], lines: dict[str, list[dict[str, Any]]],
                 meta: dict[str, Any], out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6.4), sharey=True)
    plot_lines(left, lines, "exact_bytes_max", dashed=False)
    plot_measured(left, runs, "bytes_max")
    style_axis(left, "measured (markers, nudged sideways) and pargnn's exact model (lines)",
               "bytes per rank per epoch (max over ranks)")
    plot_lines(right, lines, "cagnet_bytes", dashed=True)
    style_axis(right, "CAGNET's asymptotic bandwidth (4-byte words), same grids", "")
    for ax in (left, right):
        ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    fig.suptitle(f"GCN training step, n={meta['n']:,}, nnz(A)={meta['nnz']:,}, "
                 f"f={meta['features']}, hidden={meta['hidden']}, {meta['layers']} layers",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def memory_figure(runs: list[dict[str, Any]], lines: dict[str, list[dict[str, Any]]],
                  meta: dict[str, Any], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 6.8))
    measured_ps = sorted({r["P"] for r in runs})
    for name, points in lines.items():
        shown = [q for q in points if q["P"] <= max(measured_ps)]
        ax.plot([q["P"] for q in shown], [q["cagnet_memory_bytes"] for q in shown],
                color=COLORS[name], linestyle=DASHES[name], linewidth=1.4, marker="x",
                label=f"CAGNET memory, {line_label(name, shown)}")
    for algo in MARKERS:
        ok = sorted((r for r in runs if r["algo"] == algo and "state_bytes_max" in r
                     and (algo != "1.5d" or r["c"] == 2)), key=lambda r: r["P"])
        nudge = NUDGE["1.5d c=2" if algo == "1.5d" else algo]
        ax.plot([r["P"] * nudge for r in ok], [r["state_bytes_max"] for r in ok],
                color=COLORS[algo], linewidth=1.0, alpha=0.6)
    plot_measured(ax, runs, "state_bytes_max")
    style_axis(ax, f"state per rank (sparse blocks of A and A^T + vertex data), "
               f"n={meta['n']:,}", "bytes per rank (max over ranks)")
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.11))
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", type=Path, default=HERE / "results" / "sweep.json")
    args = parser.parse_args()
    data = json.loads(args.sweep.read_text())
    meta, runs = data["meta"], data["runs"]
    config = TrainConfig(dataset=meta["graph"], hidden=meta["hidden"], layers=meta["layers"],
                         dtype=meta["dtype"])
    lines = model_lines(load_problem(config), LINE_PS)
    folder = args.sweep.parent
    (folder / "model_lines.json").write_text(json.dumps(lines, indent=1) + "\n")
    bytes_figure(runs, lines, meta, folder / "bytes_vs_p.png")
    memory_figure(runs, lines, meta, folder / "memory_vs_p.png")
    print(f"wrote {folder / 'bytes_vs_p.png'}, {folder / 'memory_vs_p.png'}, "
          f"{folder / 'model_lines.json'}")


if __name__ == "__main__":
    main()
