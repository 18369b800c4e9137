"""What one process trains with: its algorithm, the model, the schedule, and its estimate.

The same for a single process and for each rank of a distributed run: the rank's algorithm
comes from its family (:mod:`pargnn.algorithms.registry`), the single process's is
:class:`~pargnn.algorithms.single.SingleProcess`; the model is the configured one, moved to
the run's device and precision; the schedule is full-graph training with Adam, or a single
evaluation for a model without parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pargnn.algorithms.contract import Algorithm
from pargnn.algorithms.prepare import PreparedGraph
from pargnn.algorithms.recording import model_steps
from pargnn.algorithms.registry import family_of
from pargnn.algorithms.single import build_single
from pargnn.config import DTYPES, TrainConfig
from pargnn.cost.estimate import estimate_epoch
from pargnn.dist.comm import Communicator
from pargnn.errors import ConfigError
from pargnn.layout.spec import GridSpec
from pargnn.nn.models import Model, build_model
from pargnn.schedule.base import StepSchedule
from pargnn.schedule.full_graph import FullGraphSchedule
from pargnn.schedule.propagation import PropagationSchedule


def resolve_device(choice: str) -> torch.device:
    """``auto`` takes CUDA when present; ``cuda`` without CUDA is a clear error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu")
    return torch.device(choice)


def configured_model(config: TrainConfig, features: int, classes: int) -> Model:
    """The configured model for ``features`` input columns and ``classes`` outputs."""
    return build_model(config.model, config.model_options(features, classes))


def schedule_for(model: nn.Module, algorithm: Algorithm, config: TrainConfig) -> StepSchedule:
    """Full-graph training with Adam; a single evaluation for a model without parameters."""
    parameters = list(model.parameters())
    if not parameters:
        return PropagationSchedule(model, algorithm)
    optimizer = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return FullGraphSchedule(model, algorithm, optimizer)


@dataclass
class Session:
    """The objects one process trains with."""

    algorithm: Algorithm
    model: Model
    schedule: StepSchedule

    def estimate(self) -> dict[str, object]:
        """The analytic estimate of one step on this process's share
        (:mod:`pargnn.cost.estimate`)."""
        rows = int(self.algorithm.data.features.shape[0])
        return estimate_epoch(model_steps(self.model), self.algorithm.local_nnz, rows,
                              self.schedule.trains)


def build_session(prepared: PreparedGraph, config: TrainConfig, device: torch.device,
                  spec: GridSpec | None = None, comm: Communicator | None = None) -> Session:
    """This process's session: the single-process algorithm without ``spec``, else this
    rank's algorithm of ``spec``'s family (every rank calls it together)."""
    options = config.build_options(device)
    if spec is None or comm is None:
        algorithm: Algorithm = build_single(prepared, options)
    else:
        algorithm = family_of(spec.algorithm).build(prepared, spec, options, comm)
    model = configured_model(config, int(prepared.features.shape[1]), prepared.num_classes)
    model = model.to(device=device, dtype=DTYPES[config.dtype])
    return Session(algorithm, model, schedule_for(model, algorithm, config))
