"""The problem a configuration poses, for the cost models: a graph's blocks and a model's steps.

The planner prices candidates on the operator training will multiply: the adjacency as the
model normalises it (:func:`~pargnn.algorithms.prepare.prepare_graph`, done once per run and
shared with training), whose non-zero pattern is ``A + I`` for the models that add
self-loops and ``A`` for the others. The model's steps are recorded from the configured model
itself (:func:`~pargnn.algorithms.recording.model_steps`).
"""

from __future__ import annotations

from pargnn.algorithms.prepare import PreparedGraph
from pargnn.algorithms.recording import model_steps as record_steps
from pargnn.config import TrainConfig
from pargnn.cost.blocks import BlockIndex
from pargnn.cost.problem import VALUE_BYTES, Problem
from pargnn.cost.steps import Steps
from pargnn.nn.models import build_model


def model_steps(config: TrainConfig, features: int, classes: int) -> tuple[Steps, int]:
    """The configured model's communicating steps per layer, and its parameter count."""
    model = build_model(config.model, config.model_options(features, classes))
    return record_steps(model), sum(p.numel() for p in model.parameters())


def problem_for(prepared: PreparedGraph, config: TrainConfig) -> Problem:
    """The problem ``config``'s model poses on ``prepared`` (input order)."""
    features, classes = int(prepared.features.shape[1]), prepared.num_classes
    layers, parameters = model_steps(config, features, classes)
    return Problem(prepared.n, BlockIndex(prepared.at), BlockIndex(prepared.a), features,
                   classes, layers, parameters, VALUE_BYTES[config.dtype], config.dropout > 0,
                   training=parameters > 0)
