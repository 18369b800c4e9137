"""The graph convolution of Kipf & Welling, written once against the algorithm contract."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.nn.init import CheaperOrder, glorot_


class GCNConv(CheaperOrder, nn.Module):
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
        input ``(n, f_in)``, output ``(m, f_out)`` (globally, ``m`` destinations over ``n``
        sources, ``m = n`` on the full graph; each process holds its block).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Glorot-uniform weight, zero bias; drawn from ``generator`` so every rank agrees."""
        glorot_(self.weight, generator)
        if self.bias is not None:
            with torch.no_grad():
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
