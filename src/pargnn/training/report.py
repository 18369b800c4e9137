"""What a person sees while training: a progress bar, then a summary table (rich)."""

from __future__ import annotations

import math
from typing import cast

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pargnn.config import TrainConfig
from pargnn.training.result import EpochRecord, TrainResult


def figure(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for a missing one (an empty split, an
    epoch without steps)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


class ConsoleReport:
    """A :class:`~pargnn.training.loop.TrainObserver` drawing on a rich console (stderr)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = TaskID(0)

    def start(self, result: TrainResult) -> None:
        d = result.dataset
        self.console.print(
            f"[bold]{d['name']}[/]: {d['nodes']:,} vertices, {d['edges']:,} edges, "
            f"{d['features']} features, {d['classes']} classes "
            f"(train/val/test {d['train']}/{d['val']}/{d['test']}) on {result.device}"
        )
        self.console.print(estimate_line(result))
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task("training", total=result.config.epochs, status="")
        self._progress.start()

    def epoch(self, record: EpochRecord) -> None:
        if self._progress is not None:
            status = (f"loss {figure(record.loss, 4)}  val {figure(record.val_acc, 3)}  "
                      f"test {figure(record.test_acc, 3)}")
            self._progress.update(self._task, advance=1, status=status)

    def end(self, result: TrainResult) -> None:
        if self._progress is not None:
            self._progress.stop()


def estimate_line(result: TrainResult) -> str:
    """What one step will do, from the run's analytic estimate."""
    e = result.estimate
    share = " (rank 0's share)" if result.config.nprocs > 1 else ""
    if e.get("mode") == "minibatch":
        bound = e["max_sampled_edges_per_step"]
        edges = "all neighbours" if bound is None else f"at most {bound:,} sampled edges"
        return (f"{e['steps_per_epoch']} steps per epoch; per step{share}: {edges}, "
                f"{e['allreduce_bytes_per_step']:,} bytes of all-reduce (gradients, loss) in "
                f"{e['allreduce_messages_per_step']} messages")
    return (f"per epoch{share}: {e['spmm_calls']} SpMMs over {e['nnz']:,} non-zeros "
            f"(widths {e['spmm_widths']}), {e['spmm_gflop']:.3g} GFLOP sparse, "
            f"{e['dense_gflop']:.3g} GFLOP dense")


def _batches_line(result: TrainResult) -> str:
    c, details = result.config, result.minibatch or {}
    fanout = ",".join(map(str, c.fanouts()))
    return (f"{c.global_batch_size} seeds, fanout {fanout}, {details['steps_per_epoch']} steps "
            f"per epoch, {c.optimizer}")


def _layout(config: TrainConfig, processes: int) -> str:
    if config.mode == "minibatch":
        return f"{processes} (data-parallel)"
    return (f"{processes} ({config.algo}" + (f", grid {config.grid}" if config.grid else "")
            + (f", c={config.replication}" if config.replication else "") + ")")


def model_line(config: TrainConfig) -> str:
    """The model in a few words: its name and the settings that shape it."""
    if config.model == "labelprop":
        alpha = config.model_options(0, 0).alpha
        return f"labelprop, {config.layers} iterations, alpha {alpha}"
    return (f"{config.model}, {config.layers} layers, hidden {config.hidden}, "
            f"dropout {config.dropout}")


def summary_table(result: TrainResult) -> Table:
    table = Table(title="pargnn train", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    c = result.config
    rows = [
        ("dataset", str(result.dataset["name"])),
        ("model", model_line(c)),
        ("epochs", str(len(result.epochs))),
        *([("mini-batches", _batches_line(result))] if result.minibatch else []),
        ("best epoch (val)", str(result.best_epoch)),
        ("val accuracy", figure(result.val_acc, 4)),
        ("test accuracy", figure(result.test_acc, 4)),
        ("mean epoch time", f"{result.mean_epoch_seconds * 1e3:.2f} ms"),
        ("peak memory (RSS)", f"{result.peak_rss_bytes / 2**20:,.0f} MiB"),
        ("device", result.device),
    ]
    if result.comm:
        per_rank = cast(list[int], result.comm["bytes_per_epoch_per_rank"])
        messages = cast(list[int], result.comm["messages_per_epoch_per_rank"])
        rows[1:1] = [("processes", _layout(c, len(per_rank)))]
        rows += [
            ("comm per epoch (max rank)",
             f"{max(per_rank) / 2**20:,.2f} MiB in {max(messages)} messages"),
            ("comm time per epoch", f"{result.mean_epoch_comm_seconds * 1e3:.2f} ms"),
            ("peak memory per rank", ", ".join(f"{b / 2**20:,.0f}"
                                               for b in result.peak_rss_bytes_per_rank) + " MiB"),
        ]
    for key, value in rows:
        table.add_row(key, value)
    return table
