"""The graph convolution of Kipf & Welling, written once against the algorithm contract."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pargnn.spmm.contract import Algorithm


class GCNConv(nn.Module):
    r"""Graph convolution ``Z = Â^T H W + b``.

    Matrix form: ``Z = Â^T H W + b`` with ``Â`` the normalised adjacency
    (:func:`pargnn.graph.normalize.gcn_normalize`). Per vertex:
    ``z_j = sum_{i in N_in(j) ∪ {j}} â_ij h_i W + b``.

    The product is associative, so the layer picks the cheaper order: when ``f_in > f_out`` it
    transforms first (the SpMM then moves ``f_out`` columns), otherwise it aggregates first.
    Which process holds which block, and what is sent, is the algorithm's business.

    Args:
        in_features: ``f_in``.
        out_features: ``f_out``.
        bias: add a learnable ``(f_out,)`` bias (default ``True``).

    Shapes:
        input ``(n, f_in)``, output ``(n, f_out)`` (globally; each process holds its block).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @property
    def transforms_first(self) -> bool:
        return self.in_features > self.out_features

    @property
    def aggregation_width(self) -> int:
        return self.out_features if self.transforms_first else self.in_features

    @property
    def aggregates_input(self) -> bool:
        return not self.transforms_first

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Glorot-uniform weight, zero bias; drawn from ``generator`` so every rank agrees."""
        bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            values = torch.rand(self.weight.shape, generator=generator, dtype=torch.float64)
            self.weight.copy_((values * 2 - 1) * bound)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor:
        if self.transforms_first:
            z = algorithm.aggregate(algorithm.transform(h, self.weight))
        else:
            z = algorithm.transform(algorithm.aggregate(h), self.weight)
        if self.bias is not None:
            z = algorithm.add_bias(z, self.bias)
        return z

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"
