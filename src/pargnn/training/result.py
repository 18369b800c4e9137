"""What a training run returns and writes: per-epoch records and the final figures.

An accuracy over an empty split is NaN in memory and ``null`` in the JSON file, as is the
loss of an epoch without optimisation steps (label propagation): the file never holds NaN,
which strict JSON readers refuse.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pargnn.config import TrainConfig
from pargnn.errors import ConfigError


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    loss: float | None
    train_acc: float
    val_acc: float
    test_acc: float
    seconds: float
    comm_seconds: float = 0.0
    compute_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.compute_seconds is None:
            object.__setattr__(self, "compute_seconds", self.seconds - self.comm_seconds)


@dataclass
class TrainResult:
    """A finished run. ``test_acc`` is taken at the epoch of best validation accuracy."""

    config: TrainConfig
    dataset: dict[str, object]
    device: str
    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = -1
    val_acc: float = float("nan")
    test_acc: float = float("nan")
    peak_rss_bytes: int = 0
    peak_rss_bytes_per_rank: list[int] = field(default_factory=list)
    estimate: dict[str, object] = field(default_factory=dict)
    comm: dict[str, object] = field(default_factory=dict)
    memory_detail: dict[str, object] = field(default_factory=dict)
    plan: dict[str, object] | None = None  # --algo auto: the planner's predictions and choice
    tensor_peak_bytes: int | None = None  # --trace-memory: this rank's peak training state
    rank: int = 0
    minibatch: dict[str, object] | None = None  # --mode minibatch: batches and sampling

    @property
    def mean_epoch_seconds(self) -> float:
        timed = self.epochs[1:] or self.epochs  # the first epoch pays for warm-up
        return sum(e.seconds for e in timed) / max(len(timed), 1)

    @property
    def mean_epoch_comm_seconds(self) -> float:
        timed = self.epochs[1:] or self.epochs
        return sum(e.comm_seconds for e in timed) / max(len(timed), 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "mode": self.config.mode,
            **(self.minibatch or {}),
            "dataset": self.dataset,
            "device": self.device,
            "estimate": self.estimate,
            "epochs": [asdict(e) for e in self.epochs],
            "final": {
                "best_epoch": self.best_epoch,
                "val_acc": self.val_acc,
                "test_acc": self.test_acc,
                "mean_epoch_seconds": self.mean_epoch_seconds,
            },
            "memory": {
                "peak_rss_bytes": self.peak_rss_bytes,
                "peak_rss_bytes_per_rank": self.peak_rss_bytes_per_rank or [self.peak_rss_bytes],
                **({"tensor_peak_bytes": self.tensor_peak_bytes}
                   if self.tensor_peak_bytes is not None else {}),
                **self.memory_detail,
            },
            "comm": self.comm,
            **({"plan": self.plan} if self.plan is not None else {}),
        }


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail before training, not after, if the output file cannot be written."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ConfigError(f"--out {target} is a folder; give a file name such as {target}/run.json")
    if not parent.is_dir():
        raise ConfigError(f"--out {target}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {target}: folder {parent} is not writable")
    return target


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite float, at any depth, replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write to a temporary file beside ``path`` and rename it: never a half-written file,
    never a NaN (:func:`finite_or_null`)."""
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(finite_or_null(payload), handle, indent=2, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
