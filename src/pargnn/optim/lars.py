"""LARS: momentum SGD whose step on each weight matrix is scaled to that matrix's own size.

A large batch (thousands of sampled seeds, or the whole graph in full-graph training) means
few steps per epoch, so the learning rate wants to be large; a layer whose gradient is large
next to its weights then moves much further, relative to itself, than the others, and
training diverges. LARS fixes the size of each layer's step relative to its weights. torch
does not ship it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.optimizer import ParamsT

from pargnn.optim.layerwise import LayerwiseOptimizer, adapted, ratio_or_one, require


class LARS(LayerwiseOptimizer):
    r"""Layer-wise Adaptive Rate Scaling (You, Gitman and Ginsburg 2017, Algorithm 1).

    For an adapted parameter :math:`w` (``ndim >= 2``) with gradient :math:`g`, learning rate
    :math:`\gamma`, momentum :math:`\mu`, weight decay :math:`\beta` and trust coefficient
    :math:`\eta`:

    .. math::

        \lambda &= \eta \, \|w\| / (\|g\| + \beta \|w\|)
                  \quad (\lambda = 1 \text{ when } \|w\| = 0 \text{ or } \|g\| = 0) \\
        v &\leftarrow \mu v + \gamma \lambda (g + \beta w) \\
        w &\leftarrow w - v

    An excluded parameter (``ndim <= 1``: biases, GIN's eps) gets neither the trust ratio
    nor weight decay: :math:`v \leftarrow \mu v + \gamma g`, :math:`w \leftarrow w - v`.
    The velocity starts at zero.

    This is the trust ratio of torchlars, without its ``eps`` in the denominator (the
    fallback to 1 covers a zero gradient) and with the learning rate inside the velocity, as
    in the paper (the same steps as torchlars for a constant learning rate). The ratio is
    *not* clipped: apex's LARC in its default clip mode uses :math:`\min(\lambda/\gamma, 1)`
    so the local rate never exceeds the global one, and timm's ``Lars`` adapts only
    parameters with weight decay (or all with ``always_adapt``) and clips only with
    ``trust_clip``; here :math:`\lambda` multiplies :math:`\gamma` as it is.
    """

    def __init__(self, params: ParamsT, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 0.001) -> None:
        require(lr > 0.0, "lr", lr, "> 0")
        require(0.0 <= momentum < 1.0, "momentum", momentum, "in [0, 1)")
        require(weight_decay >= 0.0, "weight_decay", weight_decay, ">= 0")
        require(trust_coefficient > 0.0, "trust_coefficient", trust_coefficient, "> 0")
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                    "trust_coefficient": trust_coefficient}
        super().__init__(params, defaults)

    def _update(self, w: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> None:
        state = self.state[w]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(w, memory_format=torch.preserve_format)
        velocity = state["momentum_buffer"]
        velocity.mul_(group["momentum"]).add_(_scaled_direction(w, g, group))
        w.sub_(velocity)


def _scaled_direction(w: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
    """What enters the velocity: ``lr * local_lr * (g + wd w)``, or ``lr * g`` if excluded."""
    if not adapted(w):
        return g.mul(group["lr"])
    decay, eta = group["weight_decay"], group["trust_coefficient"]
    w_norm, g_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(g)
    local_lr = ratio_or_one(eta * w_norm, g_norm + decay * w_norm, (w_norm > 0) & (g_norm > 0))
    return g.add(w, alpha=decay).mul_(local_lr * group["lr"])
