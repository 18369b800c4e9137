"""What a graph layer is to the rest of pargnn: a module run through an algorithm.

A layer computes its output only through the calls of
:class:`~pargnn.algorithms.contract.Algorithm`; that is all the distributed algorithms and the
cost models need to know of it (the cost models record those calls:
:mod:`pargnn.algorithms.recording`). It draws its initial parameters from an explicit
generator, so that every rank of a run starts from the same weights.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from pargnn.algorithms.contract import Algorithm


@runtime_checkable
class GraphLayer(Protocol):
    """A layer of a :class:`~pargnn.nn.models.GraphModel`.

    Shapes: ``h`` has a row per source of the algorithm's operator, the output a row per
    destination (the same rows on the full graph); ``in_features`` and ``out_features`` are
    the global widths.
    """

    in_features: int
    out_features: int

    def reset_parameters(self, generator: torch.Generator) -> None: ...

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor: ...

    def __call__(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor: ...
