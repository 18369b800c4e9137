"""What one process trains with: its algorithm, the model, the schedule, and its estimate.

The same for a single process and for each rank of a distributed run: the rank's algorithm
comes from its family (:mod:`pargnn.algorithms.registry`), the single process's is
:class:`~pargnn.algorithms.single.SingleProcess`; the model is the configured one, moved to
the run's device and precision; the schedule is full-graph training with the configured
optimiser, or a single evaluation for a model without parameters; ``--mode minibatch`` builds a
:class:`~pargnn.training.minibatch.MiniBatchSession` instead.
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
from pargnn.nn.models import GraphModel, Model, build_model
from pargnn.optim import build_optimizer
from pargnn.schedule.base import StepSchedule
from pargnn.schedule.full_graph import FullGraphSchedule
from pargnn.schedule.minibatch import SamplingStats
from pargnn.schedule.propagation import PropagationSchedule
from pargnn.training.minibatch import MiniBatchSession, build_minibatch_session


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
    """Full-graph training with the configured optimiser; a single evaluation for a model
    without parameters."""
    parameters = list(model.parameters())
    if not parameters:
        return PropagationSchedule(model, algorithm)
    optimizer = build_optimizer(config.optimizer, parameters, lr=config.lr,
                                weight_decay=config.weight_decay, momentum=config.momentum,
                                trust_coefficient=config.trust_coefficient)
    return FullGraphSchedule(model, algorithm, optimizer)


@dataclass
class Session:
    """The objects one process trains with."""

    algorithm: Algorithm
    model: Model
    schedule: StepSchedule

    def stored_bytes(self) -> int:
        return self.algorithm.stored_bytes()

    def sampling(self) -> SamplingStats | None:
        return None

    def details(self) -> dict[str, object] | None:
        return None

    def estimate(self) -> dict[str, object]:
        """The analytic estimate of one step on this process's share
        (:mod:`pargnn.cost.estimate`)."""
        rows = int(self.algorithm.data.features.shape[0])
        return estimate_epoch(model_steps(self.model), self.algorithm.local_nnz, rows,
                              self.schedule.trains)


def build_session(prepared: PreparedGraph, config: TrainConfig, device: torch.device,
                  spec: GridSpec | None = None, comm: Communicator | None = None
                  ) -> Session | MiniBatchSession:
    """This process's session: the single-process algorithm without ``spec``, else this
    rank's algorithm of ``spec``'s family (every rank calls it together); in
    ``--mode minibatch`` a data-parallel replica (:mod:`pargnn.training.minibatch`)."""
    model = configured_model(config, int(prepared.features.shape[1]), prepared.num_classes)
    model = model.to(device=device, dtype=DTYPES[config.dtype])
    if config.mode == "minibatch":
        if not isinstance(model, GraphModel):
            raise ConfigError(f"--model {config.model} cannot train on mini-batches")
        return build_minibatch_session(prepared, config, device, model, comm)
    options = config.build_options(device)
    if spec is None or comm is None:
        algorithm: Algorithm = build_single(prepared, options)
    else:
        algorithm = family_of(spec.algorithm).build(prepared, spec, options, comm)
    return Session(algorithm, model, schedule_for(model, algorithm, config))
