"""An SpMM whose backward pass is another distributed SpMM.

``Z = A^T X`` has the gradient ``dX = A dZ``. Every distributed algorithm computes both with
the same procedure on two stored operators (``A^T`` and ``A`` laid out alike), so the autograd
glue is one Function: run ``forward_product`` forward and ``backward_product`` backward, each
under its communication-log phase.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from pargnn.dist.comm import CommLog
from pargnn.dist.phases import BACKWARD_AGGREGATION, FORWARD_AGGREGATION

Product = Callable[[Tensor], Tensor]


class _PairedSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, forward_product: Product, backward_product: Product,
                log: CommLog) -> Tensor:
        ctx.backward_product, ctx.log = backward_product, log
        with log.phase(FORWARD_AGGREGATION):
            return forward_product(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        with ctx.log.phase(BACKWARD_AGGREGATION):
            return ctx.backward_product(grad.contiguous()), None, None, None


def paired_spmm(x: Tensor, forward_product: Product, backward_product: Product,
                log: CommLog) -> Tensor:
    """``forward_product(x)``, differentiated by ``backward_product``."""
    result: Tensor = _PairedSpMM.apply(x, forward_product, backward_product, log)
    return result
