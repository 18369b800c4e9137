"""Training: the configuration, the loop, results and reports."""

from pargnn.training.config import TrainConfig
from pargnn.training.loop import train
from pargnn.training.result import EpochRecord, TrainResult

__all__ = ["EpochRecord", "TrainConfig", "TrainResult", "train"]
