"""The optimiser by name: the one place that turns a configuration's choice into an object,
so the training session and the reference runs build the same optimiser for the same name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from pargnn.optim.lamb import LAMB
from pargnn.optim.lars import LARS

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd", "lars", "lamb")

Builder = Callable[[list[torch.nn.Parameter], float, float, float, float], torch.optim.Optimizer]


def _adam(params: list[torch.nn.Parameter], lr: float, weight_decay: float, momentum: float,
          trust_coefficient: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _sgd(params: list[torch.nn.Parameter], lr: float, weight_decay: float, momentum: float,
         trust_coefficient: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _lars(params: list[torch.nn.Parameter], lr: float, weight_decay: float, momentum: float,
          trust_coefficient: float) -> torch.optim.Optimizer:
    return LARS(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                trust_coefficient=trust_coefficient)


def _lamb(params: list[torch.nn.Parameter], lr: float, weight_decay: float, momentum: float,
          trust_coefficient: float) -> torch.optim.Optimizer:
    return LAMB(params, lr=lr, weight_decay=weight_decay)


_BUILDERS: dict[str, Builder] = {"adam": _adam, "sgd": _sgd, "lars": _lars, "lamb": _lamb}


def build_optimizer(name: str, parameters: Iterable[torch.nn.Parameter], *, lr: float,
                    weight_decay: float, momentum: float = 0.9,
                    trust_coefficient: float = 0.001) -> torch.optim.Optimizer:
    """The optimiser ``name`` (one of :data:`OPTIMIZERS`) over ``parameters``.

    ``adam``: torch's Adam, weight decay as an L2 term on every parameter (momentum and the
    trust coefficient unused). ``sgd``: torch's SGD with momentum and L2 weight decay.
    ``lars``: :class:`~pargnn.optim.lars.LARS` with all four hyperparameters. ``lamb``:
    :class:`~pargnn.optim.lamb.LAMB` with its default betas ``(0.9, 0.999)`` and eps
    ``1e-6``; ``momentum`` is not used as beta1 (and the trust coefficient is unused).
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return builder(list(parameters), lr, weight_decay, momentum, trust_coefficient)
