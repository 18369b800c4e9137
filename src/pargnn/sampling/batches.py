"""The seeds of every step: training vertices, shuffled per epoch, cut into global batches.

Epoch ``e`` orders the training vertices by a permutation drawn from (seed, ``e``) and cuts
it into ``ceil(T / B)`` global batches of ``B`` seeds, the last one partial. Data parallelism
splits each global batch, never the epoch: rank ``r`` of ``P`` takes the contiguous share
``[r b / P, (r + 1) b / P)`` of a batch of ``b`` seeds, a share fixed by the rank and not by
timing, so that ``P`` ranks together take exactly the batches one process takes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from pargnn.ops.dropout import mixed_key

_SHUFFLE_STREAM = 0x5B


def rank_share(size: int, rank: int, world: int) -> tuple[int, int]:
    """The slice ``[lo, hi)`` of ``size`` items that ``rank`` of ``world`` takes."""
    return rank * size // world, (rank + 1) * size // world


class SeedBatches:
    """Global batches of training vertices and this rank's share of each.

    Args:
        train_ids: the training vertices (global run-order ids).
        batch_size: seeds per global batch ``B`` (a batch larger than the training set is
            the whole set).
        seed: the run's seed.
        rank, world: this rank and the number of ranks sharing each batch.
    """

    def __init__(self, train_ids: Tensor, batch_size: int, seed: int, rank: int = 0,
                 world: int = 1) -> None:
        self.train_ids = train_ids.to(torch.int64)
        self.batch_size = batch_size
        self.seed, self.rank, self.world = seed, rank, world

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_ids.shape[0] / self.batch_size)

    def order(self, epoch: int) -> Tensor:
        """Epoch ``epoch``'s order of the training vertices (the same on every rank)."""
        generator = torch.Generator().manual_seed(mixed_key(self.seed, epoch, _SHUFFLE_STREAM)
                                                  & 0x7FFFFFFFFFFFFFFF)
        return self.train_ids[torch.randperm(self.train_ids.shape[0], generator=generator)]

    def batches(self, epoch: int) -> Iterator[tuple[int, int, Tensor]]:
        """Per global batch: its index, its size and this rank's seeds in it."""
        order = self.order(epoch)
        for index in range(self.steps_per_epoch):
            batch = order[index * self.batch_size:(index + 1) * self.batch_size]
            lo, hi = rank_share(batch.shape[0], self.rank, self.world)
            yield index, int(batch.shape[0]), batch[lo:hi]
