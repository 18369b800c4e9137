"""LARS: momentum SGD whose step on each weight matrix is scaled to that matrix's own size.

Full-graph training takes one step per epoch with the whole graph as its batch, so the steps
are few and the learning rate wants to be large; a layer whose gradient is large next to its
weights then moves much further, relative to itself, than the others, and training diverges.
LARS fixes the size of each layer's step relative to its weights. torch does not ship it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

import torch
from torch.optim.optimizer import Optimizer, ParamsT


def require(ok: bool, name: str, value: object, allowed: str) -> None:
    """Raise ``ValueError`` naming the argument and its allowed range unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def evaluate(closure: Callable[[], float] | None) -> float | None:
    """The loss ``closure`` returns, computed with gradients on (as torch's optimisers do)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def adapted(parameter: torch.Tensor) -> bool:
    """Whether a parameter gets the trust ratio and weight decay: matrices (and higher) only;
    biases, GIN's eps and 1-D attention vectors (``ndim <= 1``) are excluded."""
    return parameter.ndim > 1


def ratio_or_one(numerator: torch.Tensor, denominator: torch.Tensor,
                  valid: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` where ``valid``, else 1 (no host synchronisation)."""
    return torch.where(valid, numerator / denominator, torch.ones_like(numerator))


class LARS(Optimizer):
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

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = evaluate(closure)
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    self._update(parameter, parameter.grad, group)
        return loss

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
