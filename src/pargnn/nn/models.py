"""Models: stacks of layers with activation and dropout, run by any algorithm.

A model never touches a communicator. It receives the algorithm, which owns the layout, and
the input block the algorithm handed out; its dropout masks are keyed by (seed, epoch, layer)
so that every layout draws the same mask for the same global element.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pargnn.errors import ConfigError
from pargnn.nn.dropout import dropout_key
from pargnn.nn.gcn import GCNConv
from pargnn.spmm.contract import Algorithm

ACTIVATIONS: MappingProxyType[str, Callable[[Tensor], Tensor]] = MappingProxyType(
    {"relu": F.relu, "elu": F.elu, "leaky_relu": F.leaky_relu, "gelu": F.gelu, "tanh": torch.tanh}
)


@dataclass(frozen=True)
class SpMMWork:
    """One sparse product a training step performs: its pass and its dense width."""

    layer: int
    direction: str  # "forward" (A^T H) or "backward" (A G)
    width: int


class GCN(nn.Module):
    """``L`` graph convolutions: ``H_l = sigma(Â^T dropout(H_{l-1}) W_l + b_l)``.

    The last layer has no activation; its output are the class logits. Dropout is applied to
    the input of every layer (Kipf & Welling's placement) while training.

    Args:
        in_features: input feature width ``f``.
        hidden: width of every hidden layer.
        num_classes: output width.
        layers: number of graph convolutions (>= 1).
        dropout: drop probability in ``[0, 1)``.
        bias: learnable biases.
        activation: one of :data:`ACTIVATIONS`.
        seed: seeds the initial weights and the dropout masks.

    Shapes:
        input ``(n, f)``, output ``(n, num_classes)`` (globally).
    """

    normalization = "gcn"
    activation: Callable[[Tensor], Tensor]

    def __init__(
        self,
        in_features: int,
        hidden: int,
        num_classes: int,
        layers: int = 2,
        dropout: float = 0.5,
        bias: bool = True,
        activation: str = "relu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ConfigError(f"a GCN needs at least one layer, got layers={layers}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        widths = [in_features] + [hidden] * (layers - 1) + [num_classes]
        self.convs = nn.ModuleList(
            GCNConv(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.dropout = dropout
        self.activation = ACTIVATIONS[activation]
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        for conv in self.layers():
            conv.reset_parameters(generator)

    def layers(self) -> list[GCNConv]:
        """The graph convolutions, first to last."""
        return [conv for conv in self.convs if isinstance(conv, GCNConv)]

    def forward(self, algorithm: Algorithm, x: Tensor, epoch: int = 0) -> Tensor:
        h = x
        last = len(self.convs) - 1
        for index, conv in enumerate(self.layers()):
            if self.training and self.dropout > 0:
                key = dropout_key(self.seed, epoch, index)
                h = algorithm.dropout(h, self.dropout, key, conv.in_features)
            h = conv(algorithm, h)
            if index < last:
                h = self.activation(h)
        return h

    def spmm_work(self) -> list[SpMMWork]:
        """The SpMMs one training step performs (the kernel floor of an epoch).

        Each layer aggregates once forward; backward needs ``A G`` except in a first layer that
        aggregates the input before transforming (the input needs no gradient).
        """
        work = []
        for index, conv in enumerate(self.layers()):
            width = conv.out_features if conv.transforms_first else conv.in_features
            work.append(SpMMWork(index, "forward", width))
            if index > 0 or conv.transforms_first:
                work.append(SpMMWork(index, "backward", width))
        return work


MODELS: MappingProxyType[str, type[GCN]] = MappingProxyType({"gcn": GCN})
