"""The graph isomorphism network layer (Xu et al. 2019), against the algorithm contract."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.nn.init import glorot_


class GINConv(nn.Module):
    r"""``Z = MLP((1 + eps) H + A^T H)`` with a learnable ``eps`` and a two-layer MLP.

    Per vertex: ``z_j = MLP((1 + eps) h_j + sum_{i in N_in(j)} h_i)``; the sum aggregation
    (``A`` unnormalised) is what makes GIN as expressive as the Weisfeiler-Lehman test. The MLP
    is ``ReLU(x W_1 + b_1) W_2 + b_2`` with hidden width ``out_features``.

    Args:
        in_features, out_features: ``f_in``, ``f_out``.
        eps: initial value of ``eps`` (learnable).
        bias: biases in the MLP.

    Shapes:
        input ``(n, f_in)``, output ``(m, f_out)`` (``m`` destinations, ``m = n`` on the full
        graph).
    """

    def __init__(self, in_features: int, out_features: int, eps: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.eps = nn.Parameter(torch.tensor([eps]))
        self.weight1 = nn.Parameter(torch.empty(in_features, out_features))
        self.weight2 = nn.Parameter(torch.empty(out_features, out_features))
        self.bias1 = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.bias2 = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.initial_eps = eps

    def reset_parameters(self, generator: torch.Generator) -> None:
        for weight in (self.weight1, self.weight2):
            glorot_(weight, generator)
        with torch.no_grad():
            for b in (self.bias1, self.bias2):
                if b is not None:
                    b.zero_()
            self.eps.fill_(self.initial_eps)

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor:
        combined = algorithm.aggregate(h) + algorithm.scale(algorithm.destinations(h), 1 + self.eps)
        x = algorithm.transform(combined, self.weight1)
        if self.bias1 is not None:
            x = algorithm.add_bias(x, self.bias1)
        x = algorithm.transform(F.relu(x), self.weight2)
        if self.bias2 is not None:
            x = algorithm.add_bias(x, self.bias2)
        return x
