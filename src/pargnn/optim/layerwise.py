"""What LARS and LAMB share: layer-wise steps, and which parameters they adapt.

Both optimisers visit each parameter that has a gradient and scale its step by a trust ratio
computed from that parameter alone; both leave 1-D parameters (biases, GIN's eps) out of the
ratio and the weight decay. :class:`LayerwiseOptimizer` is that loop; each optimiser says
what one parameter's update is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

import torch
from torch.optim.optimizer import Optimizer


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


class LayerwiseOptimizer(Optimizer):
    """An optimiser that updates each parameter on its own (:meth:`_update`)."""

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
        raise NotImplementedError
