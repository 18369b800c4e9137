"""LAMB: Adam whose step on each weight matrix is scaled to that matrix's own size.

Adam with a large learning rate (few, whole-graph steps) moves every coordinate by about the
learning rate whatever the size of its layer's weights; LAMB rescales each layer's Adam step
so its norm is the learning rate times the norm of the weights. torch does not ship it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.optimizer import ParamsT

from pargnn.optim.layerwise import LayerwiseOptimizer, adapted, ratio_or_one, require


class LAMB(LayerwiseOptimizer):
    r"""Layer-wise Adaptive Moments for Batch training (You et al. 2019, "Large batch
    optimization for deep learning", Algorithm 2, with Adam's bias correction).

    At step :math:`t` (counted per parameter from 1), with gradient :math:`g`, learning rate
    :math:`\gamma`, betas :math:`\beta_1, \beta_2`, ``eps`` :math:`\epsilon` and weight decay
    :math:`\lambda`:

    .. math::

        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        r &= \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon} \\
        u &= r + \lambda w, \qquad
        \tau = \|w\| / \|u\| \quad (\tau = 1 \text{ when } \|w\| = 0 \text{ or } \|u\| = 0) \\
        w &\leftarrow w - \gamma \tau u

    for an adapted parameter (``ndim >= 2``). An excluded parameter (``ndim <= 1``: biases,
    GIN's eps) takes :math:`u = r` and :math:`\tau = 1`: torch's Adam step without weight
    decay. The trust ratio is used as it is (:math:`\phi` is the identity; some
    implementations clip it, for example to 10). The moments start at zero.
    """

    def __init__(self, params: ParamsT, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        require(lr > 0.0, "lr", lr, "> 0")
        for index, beta in enumerate(betas):
            require(0.0 <= beta < 1.0, f"betas[{index}]", beta, "in [0, 1)")
        require(eps > 0.0, "eps", eps, "> 0")
        require(weight_decay >= 0.0, "weight_decay", weight_decay, ">= 0")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _update(self, w: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> None:
        r = self._adam_direction(w, g, group)
        if not adapted(w):
            w.sub_(r, alpha=group["lr"])
            return
        u = r.add_(w, alpha=group["weight_decay"])
        w_norm, u_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(u)
        trust = ratio_or_one(w_norm, u_norm, (w_norm > 0) & (u_norm > 0))
        w.sub_(u.mul_(trust * group["lr"]))

    def _adam_direction(self, w: torch.Tensor, g: torch.Tensor,
                        group: dict[str, Any]) -> torch.Tensor:
        """Advance the moments of ``w`` and return ``r``, the bias-corrected Adam direction."""
        state = self.state[w]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(w, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(w, memory_format=torch.preserve_format)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m.mul_(beta1).add_(g, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        denominator = (v / (1.0 - beta2**t)).sqrt_().add_(group["eps"])
        return (m / (1.0 - beta1**t)).div_(denominator)
