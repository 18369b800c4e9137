"""The options a model is built from: one record for every model of ``--model``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelOptions:
    """Everything a model of :data:`MODELS` may be built from (each takes what it needs).

    ``hidden`` is the width of every hidden layer (per head for GAT); ``layers`` the number
    of graph layers (label propagation: its iterations); ``heads`` the attention heads of
    GAT's hidden layers; ``alpha`` label propagation's weight of the propagated labels;
    ``residual`` adds each hidden layer's input to its output where the widths agree.
    """

    in_features: int
    num_classes: int
    hidden: int = 16
    layers: int = 2
    dropout: float = 0.5
    bias: bool = True
    activation: str = "relu"
    seed: int = 0
    heads: int = 1
    alpha: float = 0.9
    residual: bool = False
