"""Graph attention (Velickovic et al. 2018), written once against the algorithm contract."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.nn.init import glorot_


class GATConv(nn.Module):
    r"""Multi-head graph attention.

    Per head ``k``, with ``g_v = W_k h_v``:

    ``e_ij = LeakyReLU(a_l^k . g_i + a_r^k . g_j)``,
    ``alpha_ij = softmax_{i in N_in(j)} e_ij`` (over each vertex's in-edges, self-loop included),
    ``z_j^k = sum_i alpha_ij g_i``;

    heads are concatenated (``concat=True``) or averaged, then a bias is added. Matrix form per
    head: ``Z^k = S(alpha^k) (H W_k)`` where ``S(alpha)`` is ``A^T``'s sparsity filled with the
    attention weights: an SDDMM for the scores, an edge softmax, and an SpMM.

    Args:
        in_features: ``f_in``.
        out_features: width of each head ``f'``.
        heads: number of heads ``K``.
        concat: concatenate heads (output ``K f'``) or average them (output ``f'``).
        negative_slope: of the LeakyReLU.
        attention_dropout: drop probability of the attention weights while training.
        bias: add a learnable bias.
        residual: add a learned projection of the input (``H W_res``) to the output.

    Shapes:
        input ``(n, f_in)``, output ``(m, K f')`` or ``(m, f')`` (globally; ``m`` destinations,
        ``m = n`` on the full graph).
    """

    head_mean: Tensor

    def __init__(self, in_features: int, out_features: int, heads: int = 1, concat: bool = True,
                 negative_slope: float = 0.2, attention_dropout: float = 0.0, bias: bool = True,
                 residual: bool = False) -> None:
        super().__init__()
        self.in_features, self.heads, self.head_width = in_features, heads, out_features
        self.concat, self.negative_slope = concat, negative_slope
        self.attention_dropout = attention_dropout
        self.out_features = heads * out_features if concat else out_features
        self.weight = nn.Parameter(torch.empty(in_features, heads * out_features))
        self.att_src = nn.Parameter(torch.empty(heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(heads, out_features))
        self.bias = nn.Parameter(torch.zeros(self.out_features)) if bias else None
        self.residual = (nn.Parameter(torch.empty(in_features, self.out_features))
                         if residual else None)
        mean = torch.zeros(heads * out_features, out_features)
        for k in range(heads):
            mean[k * out_features:(k + 1) * out_features] = torch.eye(out_features) / heads
        self.register_buffer("head_mean", mean, persistent=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Glorot-uniform weights and attention vectors, zero bias."""
        for p in (self.weight, self.att_src, self.att_dst, self.residual):
            if p is not None:
                glorot_(p, generator)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor:
        g = algorithm.transform(h, self.weight)
        s_src = algorithm.head_scores(g, self.att_src)
        s_dst = algorithm.head_scores(algorithm.destinations(g), self.att_dst)
        p = self.attention_dropout if self.training else 0.0
        z = algorithm.attend(g, s_src, s_dst, heads=self.heads, head_width=self.head_width,
                             negative_slope=self.negative_slope, dropout=p, key=attention_key)
        if not self.concat and self.heads > 1:
            z = algorithm.transform(z, self.head_mean.to(z.dtype))
        elif not self.concat:
            pass  # one head: its output already is the mean
        if self.residual is not None:
            z = z + algorithm.transform(algorithm.destinations(h), self.residual)
        if self.bias is not None:
            z = algorithm.add_bias(z, self.bias)
        return z

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.head_width}, heads={self.heads}, "
                f"concat={self.concat}")
