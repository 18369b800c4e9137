"""Parameter initialisation drawn from an explicit generator, so that every rank agrees."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def glorot_(parameter: Tensor, generator: torch.Generator) -> None:
    """Glorot-uniform in place: ``U(-b, b)`` with ``b = sqrt(6 / (fan_in + fan_out))``, drawn in
    float64 from ``generator`` (the same numbers whatever the parameter's dtype or device)."""
    bound = math.sqrt(6.0 / (parameter.shape[0] + parameter.shape[1]))
    draw = torch.rand(parameter.shape, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        parameter.copy_((draw * 2 - 1) * bound)


class CheaperOrder:
    """For layers computing ``A^T H W``: transform first when that narrows the SpMM."""

    in_features: int
    out_features: int

    @property
    def transforms_first(self) -> bool:
        return self.in_features > self.out_features
