"""GraphSAGE with mean aggregation (Hamilton et al. 2017), against the algorithm contract."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pargnn.spmm.contract import Algorithm


class SAGEConv(nn.Module):
    r"""``Z = mean_agg(H) W_neigh + H W_root + b``.

    Per vertex: ``z_j = W_neigh^T mean_{i in N_in(j)} h_i + W_root^T h_j + b``; the mean runs
    over in-neighbours only (``A D_in^{-1}``, :func:`pargnn.graph.normalize.mean_normalize`),
    and a vertex without in-neighbours keeps only its root term. Like GCNConv, the layer
    transforms before aggregating when that makes the SpMM narrower.

    Args:
        in_features, out_features: ``f_in``, ``f_out``.
        bias: add a learnable bias.

    Shapes:
        input ``(n, f_in)``, output ``(n, f_out)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight_neigh = nn.Parameter(torch.empty(in_features, out_features))
        self.weight_root = nn.Parameter(torch.empty(in_features, out_features))
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
        bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            for p in (self.weight_neigh, self.weight_root):
                draw = torch.rand(p.shape, generator=generator, dtype=torch.float64)
                p.copy_((draw * 2 - 1) * bound)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor:
        if self.transforms_first:
            neigh = algorithm.aggregate(algorithm.transform(h, self.weight_neigh))
        else:
            neigh = algorithm.transform(algorithm.aggregate(h), self.weight_neigh)
        z = neigh + algorithm.transform(h, self.weight_root)
        if self.bias is not None:
            z = algorithm.add_bias(z, self.bias)
        return z
