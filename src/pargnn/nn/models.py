"""Models: stacks of layers with activation and dropout, run by any algorithm.

A model never touches a communicator. It receives the algorithm, which owns the layout, and
the input block the algorithm handed out; its dropout masks are keyed by (seed, epoch, layer)
so that every layout draws the same mask for the same global element. :data:`MODELS` names
every model ``--model`` accepts, and :func:`build_model` makes one from
:class:`~pargnn.nn.options.ModelOptions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.errors import ConfigError
from pargnn.nn.gat import GATConv
from pargnn.nn.gcn import GCNConv
from pargnn.nn.gin import GINConv
from pargnn.nn.labelprop import LabelPropagation
from pargnn.nn.layer import GraphLayer
from pargnn.nn.options import ModelOptions
from pargnn.nn.sage import SAGEConv
from pargnn.ops.dropout import dropout_key

ACTIVATIONS: MappingProxyType[str, Callable[[Tensor], Tensor]] = MappingProxyType(
    {"relu": F.relu, "elu": F.elu, "leaky_relu": F.leaky_relu, "gelu": F.gelu, "tanh": torch.tanh}
)


class GraphModel(nn.Module):
    """``L`` graph layers: ``H_l = sigma(layer_l(dropout(H_{l-1})))``; the last has no
    activation and outputs the class logits. Dropout is applied to the input of every layer
    (Kipf & Welling's and Velickovic et al.'s placement) while training.

    Subclasses say which layer to build (:meth:`make_layer`) and which adjacency
    normalisation their aggregation needs (:attr:`normalization`).

    Args:
        in_features: input feature width ``f``.
        hidden: width of every hidden layer (per head for GAT).
        num_classes: output width.
        layers: number of graph layers (>= 1).
        dropout: drop probability in ``[0, 1)`` of every layer's input.
        bias: learnable biases.
        activation: one of :data:`ACTIVATIONS`.
        seed: seeds the initial weights and the dropout masks.
        heads: attention heads of the hidden layers (GAT only).
        residual: add each hidden layer's input to its output where the widths agree
            (every hidden layer but the first), so that deep stacks train.

    Shapes:
        input ``(n, f)``, output ``(n, num_classes)`` (globally).
    """

    normalization = "gcn"
    activation: Callable[[Tensor], Tensor]

    def __init__(self, in_features: int, hidden: int, num_classes: int, layers: int = 2,
                 dropout: float = 0.5, bias: bool = True, activation: str = "relu",
                 seed: int = 0, heads: int = 1, residual: bool = False) -> None:
        super().__init__()
        _check(layers, dropout, activation, heads)
        self.in_features = in_features
        self.dropout, self.heads, self.bias = dropout, heads, bias
        self.residual = residual
        self.activation = ACTIVATIONS[activation]
        self.seed = seed
        convs: list[nn.Module] = []
        width = in_features
        for index in range(layers):
            last = index == layers - 1
            conv = self.make_layer(width, num_classes if last else hidden, last)
            convs.append(conv)  # type: ignore[arg-type]
            width = int(conv.out_features)
        self.convs = nn.ModuleList(convs)
        generator = torch.Generator().manual_seed(seed)
        for layer in self.layers():
            layer.reset_parameters(generator)

    @classmethod
    def from_options(cls, options: ModelOptions) -> GraphModel:
        return cls(options.in_features, options.hidden, options.num_classes, options.layers,
                   options.dropout, options.bias, options.activation, options.seed,
                   options.heads, options.residual)

    def make_layer(self, in_features: int, out_features: int, last: bool) -> GraphLayer:
        raise NotImplementedError

    def layers(self) -> list[GraphLayer]:
        """The graph layers, first to last."""
        return list(self.convs)  # type: ignore[arg-type]

    def forward(self, algorithm: Algorithm | Sequence[Algorithm], x: Tensor,
                epoch: int = 0) -> Tensor:
        """The logits of ``x``'s rows through every layer.

        ``algorithm`` runs every layer, or, as a sequence, one layer each (the blocks of a
        sampled mini-batch, first layer first). ``epoch`` keys the dropout masks (a
        mini-batch schedule passes its global step).
        """
        layers = self.layers()
        runs = [algorithm] * len(layers) if not isinstance(algorithm, Sequence) else algorithm
        if len(runs) != len(layers):
            raise ValueError(f"a {len(layers)}-layer model needs {len(layers)} operators, "
                             f"got {len(runs)}")
        h = x
        for index, run in enumerate(runs):
            h = self.apply_layer(index, run, h, epoch)
        return h

    def apply_layer(self, index: int, algorithm: Algorithm, h: Tensor, epoch: int = 0
                    ) -> Tensor:
        """Layer ``index`` on ``h``: dropout while training, the layer, and, unless it is the
        last, the activation and (with ``residual``, where the widths agree) the layer's
        input: ``H_l = sigma(layer_l(dropout(H_{l-1}))) + H_{l-1}``. Layer-wise inference
        calls it one layer at a time."""
        layers = self.layers()
        conv, given = layers[index], h
        if self.training and self.dropout > 0:
            key = dropout_key(self.seed, epoch, index)
            h = algorithm.dropout(h, self.dropout, key, conv.in_features)
        h = conv(algorithm, h, attention_key=dropout_key(self.seed, epoch, index, stream=1))
        if index == len(layers) - 1:
            return h
        h = self.activation(h)
        if self.residual and conv.in_features == conv.out_features:
            h = h + algorithm.destinations(given)
        return h


def _check(layers: int, dropout: float, activation: str, heads: int) -> None:
    checks = (
        (layers >= 1, f"a model needs at least one layer, got layers={layers}"),
        (0.0 <= dropout < 1.0, f"dropout must be in [0, 1), got {dropout}"),
        (activation in ACTIVATIONS, f"unknown activation {activation!r}; "
                                    f"choose one of {', '.join(ACTIVATIONS)}"),
        (heads >= 1, f"heads must be >= 1, got {heads}"),
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


class GCN(GraphModel):
    """Graph convolutions (:class:`~pargnn.nn.gcn.GCNConv`) on ``D^-1/2 (A + I) D^-1/2``."""

    normalization = "gcn"

    def make_layer(self, in_features: int, out_features: int, last: bool) -> GraphLayer:
        return GCNConv(in_features, out_features, bias=self.bias)


class GAT(GraphModel):
    """Graph attention (:class:`~pargnn.nn.gat.GATConv`) over ``A + I``: hidden layers with
    ``heads`` concatenated heads of width ``hidden``, an output layer with one head (the
    published setting for Cora and CiteSeer). Attention dropout equals ``dropout``."""

    normalization = "loops"

    def make_layer(self, in_features: int, out_features: int, last: bool) -> GraphLayer:
        return GATConv(in_features, out_features, heads=1 if last else self.heads,
                       concat=not last, attention_dropout=self.dropout, bias=self.bias)


class SAGE(GraphModel):
    """GraphSAGE with mean aggregation (:class:`~pargnn.nn.sage.SAGEConv`)."""

    normalization = "mean"

    def make_layer(self, in_features: int, out_features: int, last: bool) -> GraphLayer:
        return SAGEConv(in_features, out_features, bias=self.bias)


class GIN(GraphModel):
    """Graph isomorphism network (:class:`~pargnn.nn.gin.GINConv`) with sum aggregation."""

    normalization = "sum"

    def make_layer(self, in_features: int, out_features: int, last: bool) -> GraphLayer:
        return GINConv(in_features, out_features, bias=self.bias)


Model = GraphModel | LabelPropagation

MODELS: MappingProxyType[str, type[Model]] = MappingProxyType(
    {"gcn": GCN, "gat": GAT, "sage": SAGE, "gin": GIN, "labelprop": LabelPropagation}
)


def build_model(name: str, options: ModelOptions) -> Model:
    """The model ``--model name`` with ``options``."""
    if name not in MODELS:
        raise ConfigError(f"--model {name!r} is not one of: {', '.join(MODELS)}")
    return MODELS[name].from_options(options)
