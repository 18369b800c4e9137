"""GraphSAGE with mean aggregation (Hamilton et al. 2017), against the algorithm contract."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.nn.init import CheaperOrder, glorot_


class SAGEConv(CheaperOrder, nn.Module):
    r"""``Z = mean_agg(H) W_neigh + H W_root + b``.

    Per vertex: ``z_j = W_neigh^T mean_{i in N_in(j)} h_i + W_root^T h_j + b``; the mean runs
    over in-neighbours only (``A D_in^{-1}``, :func:`pargnn.graph.normalize.mean_normalize`),
    and a vertex without in-neighbours keeps only its root term. Like GCNConv, the layer
    transforms before aggregating when that makes the SpMM narrower.

    Args:
        in_features, out_features: ``f_in``, ``f_out``.
        bias: add a learnable bias.

    Shapes:
        input ``(n, f_in)``, output ``(m, f_out)`` for an operator of ``m`` destinations
        over ``n`` sources (``m = n`` on the full graph).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight_neigh = nn.Parameter(torch.empty(in_features, out_features))
        self.weight_root = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def reset_parameters(self, generator: torch.Generator) -> None:
        for weight in (self.weight_neigh, self.weight_root):
            glorot_(weight, generator)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor:
        if self.transforms_first:
            neigh = algorithm.aggregate(algorithm.transform(h, self.weight_neigh))
        else:
            neigh = algorithm.transform(algorithm.aggregate(h), self.weight_neigh)
        z = neigh + algorithm.transform(algorithm.destinations(h), self.weight_root)
        if self.bias is not None:
            z = algorithm.add_bias(z, self.bias)
        return z
