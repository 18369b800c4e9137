"""The one result a user sees, folded from every rank's report.

Rank 0's result (losses and accuracies are global), with every rank's memory and
communication, and per epoch the slowest rank's time: an epoch ends when its slowest rank does.
"""

from __future__ import annotations

from pargnn.schedule.minibatch import SamplingStats
from pargnn.training.rank import RankReport
from pargnn.training.result import EpochRecord, TrainResult

MEMORY_NOTE = (
    "peak_rss includes reading the prepared graph before the rank's blocks are cut out; "
    "state_bytes counts "
    "the sparse blocks and vertex data a rank keeps; training_rss_growth is the peak RSS during "
    "training above the RSS after setup; tensor_peak_bytes (--trace-memory) is the peak of the "
    "tensor bytes alive during the second training step, graph and model included")


def _slowest_epochs(result: TrainResult, reports: list[RankReport]) -> list[EpochRecord]:
    return [
        EpochRecord(
            e.epoch, e.loss, e.train_acc, e.val_acc, e.test_acc,
            seconds=max(r.epoch_seconds[k] for r in reports),
            comm_seconds=max(r.epoch_comm_seconds[k] for r in reports),
            compute_seconds=max(r.epoch_seconds[k] - r.epoch_comm_seconds[k] for r in reports),
        )
        for k, e in enumerate(result.epochs)
    ]


def _memory(result: TrainResult, reports: list[RankReport]) -> None:
    result.peak_rss_bytes_per_rank = [r.peak_rss_bytes for r in reports]
    traced = result.tensor_peak_bytes is not None
    result.memory_detail = {
        "state_bytes_per_rank": [r.state_bytes for r in reports],
        "training_rss_growth_bytes_per_rank": [r.training_peak_rss_bytes for r in reports],
        **({"tensor_peak_bytes_per_rank": [r.tensor_peak_bytes for r in reports]}
           if traced else {}),
        "note": MEMORY_NOTE,
    }
    if traced:
        result.tensor_peak_bytes = max(r.tensor_peak_bytes or 0 for r in reports)
    result.peak_rss_bytes = max(result.peak_rss_bytes_per_rank)


def _communication(reports: list[RankReport], epochs: int) -> dict[str, object]:
    return {
        "bytes_per_epoch_per_rank": [r.train_bytes // epochs for r in reports],
        "messages_per_epoch_per_rank": [r.train_messages // epochs for r in reports],
        "by_op": reports[0].comm["by_op"],
        "by_phase": reports[0].comm["by_phase"],
        "per_rank": [{"rank": r.rank, **r.comm} for r in reports],
        "note": "by_op and by_phase are rank 0's totals over the whole run, setup included",
    }


def merge_reports(reports: list[RankReport]) -> TrainResult:
    """Rank 0's result with every rank's memory, communication and the slowest timings."""
    result = reports[0].result
    if result is None:
        raise RuntimeError("rank 0 returned no result")
    result.epochs = _slowest_epochs(result, reports)
    _memory(result, reports)
    result.comm = _communication(reports, max(len(result.epochs), 1))
    sampled = [r.sampling for r in reports if r.sampling is not None]
    if result.minibatch is not None and sampled:
        result.minibatch["sampling"] = SamplingStats.total(sampled).as_dict(len(sampled))
    return result
