"""Collectives as autograd sees them, and the row gathers whose adjoints they are.

* a sum of partial values that every member then uses for different terms of the loss: an
  all-reduce forward and an all-reduce backward (:func:`all_reduce_sum`);
* a value every member holds whole and uses for different terms: identity forward, all-reduce
  of the gradient backward (:func:`sum_gradient`);
* row blocks of every member (:func:`all_gather_rows`) and its adjoint, the sum of every
  member's gradient of them with each member keeping its own (:func:`reduce_scatter_rows`).

A backward collective must run on every member, in the same order: these Functions are only
used where every member builds the same graph (the same calls, whatever its data). Backward
collectives are logged under the phase the caller names; forward ones under the current phase.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from pargnn.dist.comm import Communicator, ProcessGroup


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, comm: Communicator, group: ProcessGroup | None, size: int,
                phase: str) -> Tensor:
        ctx.comm, ctx.group, ctx.size, ctx.phase = comm, group, size, phase
        out = x.clone()
        comm.all_reduce(out, group, size)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None, None]:
        total = grad.contiguous().clone()
        with ctx.comm.log.phase(ctx.phase):
            ctx.comm.all_reduce(total, ctx.group, ctx.size)
        return total, None, None, None, None


def all_reduce_sum(x: Tensor, comm: Communicator, group: ProcessGroup | None, size: int,
                   backward_phase: str) -> Tensor:
    """``sum_k x_k`` over the group, when each member uses the sum for its own terms of the
    loss: the gradient of every ``x_k`` is the sum of the members' gradients."""
    result: Tensor = _AllReduceSum.apply(x, comm, group, size, backward_phase)
    return result


class _SumGradient(_AllReduceSum):
    """The identity forward; the backward (all-reduce of the gradient) is inherited."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, comm: Communicator, group: ProcessGroup | None, size: int,
                phase: str) -> Tensor:
        ctx.comm, ctx.group, ctx.size, ctx.phase = comm, group, size, phase
        return x.view_as(x)


def sum_gradient(x: Tensor, comm: Communicator, group: ProcessGroup | None, size: int,
                 backward_phase: str) -> Tensor:
    """``x`` unchanged; its gradient is summed over the group (every member holds ``x`` whole
    and contributes a different part of the loss)."""
    result: Tensor = _SumGradient.apply(x, comm, group, size, backward_phase)
    return result


def all_gather_rows(comm: Communicator, x: Tensor, group: ProcessGroup | None,
                    sizes: tuple[int, ...]) -> Tensor:
    """Every member's rows (member ``k`` has ``sizes[k]``) concatenated in member order, by one
    all-gather of blocks padded to the largest."""
    pad, members = max(sizes), len(sizes)
    mine = x.new_zeros((pad, *x.shape[1:]))
    mine[: x.shape[0]] = x
    gathered = x.new_empty((members * pad, *x.shape[1:]))
    comm.all_gather(gathered, mine, group, members)
    return torch.cat([gathered[k * pad: k * pad + n] for k, n in enumerate(sizes)])


def reduce_scatter_rows(comm: Communicator, x: Tensor, group: ProcessGroup | None,
                        sizes: tuple[int, ...], position: int) -> Tensor:
    """The adjoint of :func:`all_gather_rows`: every member's ``x`` (all members' rows)
    summed, and this member's rows kept (one reduce-scatter of blocks padded to the largest).
    """
    pad, members = max(sizes), len(sizes)
    stacked = x.new_zeros((members * pad, *x.shape[1:]))
    start = 0
    for k, n in enumerate(sizes):
        stacked[k * pad: k * pad + n] = x[start: start + n]
        start += n
    mine = x.new_empty((pad, *x.shape[1:]))
    comm.reduce_scatter(mine, stacked, group, members)
    return mine[: sizes[position]].contiguous()
