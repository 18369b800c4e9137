"""Which layout wins where: the planner on the built-in cluster profiles, from statistics.

Two graphs that are not materialised here, planned from their sizes alone
(:mod:`pargnn.planner.statistics`: uniform blocks, random-partition halos, the busiest ranks):

* Reddit: 232,965 vertices, 114,615,892 non-zeros, 602 features, 41 classes;
* an ogbn-papers100M-sized graph: 111,059,956 vertices, its 1,615,685,872 citations made
  symmetric (3,231,371,744 non-zeros), 128 features, 172 classes;

for GCN, 2 layers, hidden 128, float32, dropout 0.5, on ``cpu-cluster-ethernet`` and
``gpu-cluster-infiniband``, at P = 1, 2, 4, ..., 4096. Per algorithm family (1d, 1.5d, 2d,
3d, sa1d random, sa1.5d random) the plot shows the predicted epoch of its fastest layout that
fits in the profile's memory per process; where none fits, its fastest layout as a hollow
marker. Writes ``results/cluster_plot.png`` and ``results/cluster_plot.md`` (the winner at
each P per panel). Runs in about half a minute::

    .venv/bin/python benchmarks/planner/cluster_plot.py
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from pargnn.config import TrainConfig  # noqa: E402
from pargnn.planner.planner import Plan, Prediction  # noqa: E402
from pargnn.planner.profile import Profile, load_profile  # noqa: E402
from pargnn.planner.statistics import GraphStatistics, plan_from_statistics  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
GRAPHS = (
    GraphStatistics("Reddit", 232_965, 114_615_892, 602, 41),
    GraphStatistics("papers100M-sized", 111_059_956, 2 * 1_615_685_872, 128, 172),
)
PROFILES = ("cpu-cluster-ethernet", "gpu-cluster-infiniband")
PROCESSES = tuple(2**k for k in range(13))  # 1 .. 4096
CONFIG = TrainConfig(model="gcn", layers=2, hidden=128, dtype="float32", dropout=0.5)
FAMILIES = ("1d", "1.5d", "2d", "3d", "sa1d", "sa1.5d")
STYLE = {"1d": ("tab:blue", "o"), "1.5d": ("tab:orange", "s"), "2d": ("tab:green", "^"),
         "3d": ("tab:purple", "D"), "sa1d": ("tab:red", "v"), "sa1.5d": ("tab:brown", "P")}


@dataclass(frozen=True)
class Point:
    """The family's representative layout at one P."""

    nprocs: int
    prediction: Prediction


def family_best(plan: Plan, family: str) -> Prediction | None:
    """The family's fastest layout that fits, else its fastest (plans are sorted)."""
    members = [p for p in plan.predictions if p.candidate.algorithm == family]
    return next((p for p in members if p.fits), members[0] if members else None)


def sweep(graph: GraphStatistics, profile: Profile) -> dict[int, Plan]:
    return {p: plan_from_statistics(graph, CONFIG, p, profile) for p in PROCESSES}


def family_points(plans: dict[int, Plan], family: str) -> list[Point]:
    points = []
    for nprocs, plan in plans.items():
        best = family_best(plan, family)
        if best is not None:
            points.append(Point(nprocs, best))
    return points


def draw_panel(ax: Axes, plans: dict[int, Plan], title: str, memory_limit: int | None) -> None:
    for family in FAMILIES:
        points = family_points(plans, family)
        color, marker = STYLE[family]
        xs = [pt.nprocs for pt in points]
        ys = [pt.prediction.epoch_seconds for pt in points]
        ax.plot(xs, ys, color=color, linewidth=1, alpha=0.7)
        for fits in (True, False):
            chosen = [pt for pt in points if pt.prediction.fits == fits]
            ax.scatter([pt.nprocs for pt in chosen],
                       [pt.prediction.epoch_seconds for pt in chosen], marker=marker, s=28,
                       facecolors=color if fits else "none", edgecolors=color, zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(PROCESSES[::2])
    ax.set_xticklabels([str(p) for p in PROCESSES[::2]])
    limit = "" if memory_limit is None else f" ({memory_limit / 1e9:.0f} GB per process)"
    ax.set_title(title + limit, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)


def legend_handles() -> list[Line2D]:
    handles = [Line2D([], [], color=STYLE[f][0], marker=STYLE[f][1], label=label)
               for f, label in zip(FAMILIES, ("1d", "1.5d (best c)", "2d (best grid)",
                                              "3d (best grid)", "sa1d random",
                                              "sa1.5d random (best c)"), strict=True)]
    handles.append(Line2D([], [], color="gray", marker="o", markerfacecolor="none",
                          linestyle="none", label="hollow: no layout of the family fits"))
    return handles


def plot(results: dict[tuple[str, str], dict[int, Plan]], profiles: dict[str, Profile],
         path: Path) -> None:
    fig, axes = plt.subplots(len(GRAPHS), len(PROFILES), figsize=(11, 8.5), sharex=True)
    for row, graph in enumerate(GRAPHS):
        for col, name in enumerate(PROFILES):
            ax = axes[row][col]
            draw_panel(ax, results[(graph.name, name)], f"{graph.name} on {name}",
                       profiles[name].memory_bytes)
            if col == 0:
                ax.set_ylabel("predicted epoch (s)")
            if row == len(GRAPHS) - 1:
                ax.set_xlabel("processes P")
    fig.legend(handles=legend_handles(), loc="lower center", ncol=4, fontsize=8,
               frameon=False)
    fig.suptitle("GCN, 2 layers, hidden 128, float32: predicted epoch of each family's fastest "
                 "layout\n(statistics only: uniform blocks, random-partition halos)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def winner_row(nprocs: int, plan: Plan) -> str:
    best = plan.choice
    if best is None:
        fastest = plan.predictions[0]
        return (f"| {nprocs} | none fits (fastest: {fastest.candidate.label}, "
                f"{fastest.memory_bytes / 1e9:.0f} GB) | | | | |")
    share = best.comm_seconds / best.epoch_seconds
    runner = next((p for p in plan.predictions if p is not best and p.fits), None)
    lead = "" if runner is None else (f"{runner.candidate.label} "
                                      f"({runner.epoch_seconds / best.epoch_seconds:.2f}x)")
    return (f"| {nprocs} | {best.candidate.label} | {best.epoch_seconds * 1e3:.1f} | "
            f"{share:.0%} | {best.memory_bytes / 1e9:.2f} | {lead} |")


def table(results: dict[tuple[str, str], dict[int, Plan]], seconds: float) -> str:
    lines = [
        "# Which layout wins where (generated by `cluster_plot.py`)",
        "",
        "Winner: the planner's choice (fastest predicted epoch among the layouts that fit in "
        "the profile's memory per process). Communication share: the winner's communication "
        "seconds over its epoch (its busiest rank's). Next: the second fastest layout that "
        "fits, and how much slower it is. Statistics only: uniform blocks, random-partition "
        "halos (the sparsity-aware layouts are priced for a random partition), GCN 2 layers, "
        f"hidden 128, float32, dropout 0.5. All {len(results)} panels took {seconds:.0f} s.",
    ]
    for graph in GRAPHS:
        for name in PROFILES:
            lines += ["", f"## {graph.name} on {name}", "",
                      "| P | winner | epoch (ms) | communication | memory (GB) | next |",
                      "|---|---|---|---|---|---|"]
            lines += [winner_row(p, plan) for p, plan in results[(graph.name, name)].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    start = time.perf_counter()
    profiles = {name: load_profile(name) for name in PROFILES}
    results = {(graph.name, name): sweep(graph, profiles[name])
               for graph in GRAPHS for name in PROFILES}
    seconds = time.perf_counter() - start
    RESULTS.mkdir(exist_ok=True)
    plot(results, profiles, RESULTS / "cluster_plot.png")
    (RESULTS / "cluster_plot.md").write_text(table(results, seconds))
    print(f"wrote {RESULTS / 'cluster_plot.png'} and cluster_plot.md in "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
