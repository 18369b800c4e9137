"""Synchronous data parallelism's collectives: the gradient all-reduce and the replica check.

Every rank holds the whole model and computes the gradient of its share of a global batch's
mean loss; summing those shares over ranks gives the gradient of the whole batch, so one
all-reduce per bucket of gradients (:func:`~pargnn.cost.data_parallel.gradient_buckets`)
leaves every rank with the gradient one process would compute, and identical optimiser
steps keep the replicas identical. The reduction runs after the backward pass (no overlap
with it; on CPU with gloo there is no idle device to overlap with), through the logging
communicator, so the bytes are counted and held equal to :mod:`pargnn.cost.data_parallel`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pargnn.cost.data_parallel import DEFAULT_BUCKET_BYTES, gradient_buckets
from pargnn.dist.comm import Communicator


class GradientReducer:
    """Sums the parameters' gradients over ``world`` ranks, bucket by bucket.

    A parameter without a gradient (a rank whose share of the batch is empty) contributes
    zeros, and receives the sum.
    """

    def __init__(self, parameters: list[nn.Parameter], comm: Communicator, world: int,
                 bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
        self.parameters, self.comm, self.world = parameters, comm, world
        itemsize = parameters[0].element_size() if parameters else 1
        self.buckets = gradient_buckets([p.numel() for p in parameters], itemsize,
                                        bucket_bytes)

    def reduce(self) -> None:
        if self.world == 1:
            return
        for bucket in self.buckets:
            members = [self.parameters[i] for i in bucket]
            flat = torch.cat([_gradient(p).reshape(-1) for p in members])
            self.comm.all_reduce(flat, None, self.world)
            for p, part in zip(members, flat.split([p.numel() for p in members]), strict=True):
                p.grad = part.view_as(p)

    def sum_scalar(self, value: Tensor) -> Tensor:
        """``value`` (one element) summed over the ranks."""
        total = value.detach().reshape(1).clone()
        self.comm.all_reduce(total, None, self.world)
        return total[0]


def _gradient(p: nn.Parameter) -> Tensor:
    return p.grad if p.grad is not None else torch.zeros_like(p)


def check_replicas(parameters: list[nn.Parameter], comm: Communicator, world: int) -> None:
    """Raise if the ranks' parameters differ: all-gather a float64 fingerprint of every
    parameter (its sum and its sum of squares) and compare them exactly."""
    if world == 1 or not parameters:
        return
    mine = torch.stack([torch.stack((p.detach().double().sum(), p.detach().double().square()
                                     .sum())) for p in parameters]).flatten()
    every = torch.empty(world * mine.numel(), dtype=mine.dtype, device=mine.device)
    comm.all_gather(every, mine, None, world)
    if not bool((every.view(world, -1) == mine).all()):
        raise RuntimeError("data-parallel replicas diverged: the ranks' parameters differ "
                           "after identical optimiser steps (a non-deterministic reduction?)")
