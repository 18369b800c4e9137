"""The exact traffic of data-parallel training: what one mini-batch step sends.

Data parallelism replicates the model and splits each global batch over ``P`` ranks; a step
then issues exactly two kinds of collective per rank (:mod:`pargnn.dist.data_parallel`):

* the gradient all-reduce, in buckets: the parameters, last first (the order backward
  finishes them), packed greedily into buckets of at most ``bucket_bytes`` (a parameter
  larger than that gets its own), one ``all_reduce`` of the bucket's bytes each;
* the loss: one ``all_reduce`` of one element (each rank's share of the batch's mean).

With one rank there are none. Under the log's convention (:mod:`pargnn.dist.comm`) an
all-reduce counts the bytes of its tensor, so the bytes of a step are
``(sum of parameter elements + 1) x element size`` whatever the bucket size; the bucket size
sets the number of messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_BUCKET_BYTES = 25 * 2**20  # torch DDP's default bucket cap


def gradient_buckets(numels: Sequence[int], itemsize: int,
                     bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> list[list[int]]:
    """Parameter indices per bucket, in the order they are reduced (last parameter first)."""
    buckets: list[list[int]] = []
    filled = bucket_bytes  # forces a new bucket for the first parameter
    for index in reversed(range(len(numels))):
        size = numels[index] * itemsize
        if buckets and filled + size <= bucket_bytes:
            buckets[-1].append(index)
            filled += size
        else:
            buckets.append([index])
            filled = size
    return buckets


@dataclass(frozen=True)
class StepTraffic:
    """Per rank and step: the gradient all-reduce calls' bytes, and the loss's bytes."""

    gradient_calls: tuple[int, ...]
    loss_bytes: int

    @property
    def calls(self) -> int:
        return len(self.gradient_calls) + (1 if self.loss_bytes else 0)

    @property
    def bytes(self) -> int:
        return sum(self.gradient_calls) + self.loss_bytes


def data_parallel_step(numels: Sequence[int], itemsize: int, world: int,
                       bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> StepTraffic:
    """What one mini-batch step sends per rank with ``world`` ranks (nothing for one)."""
    if world == 1:
        return StepTraffic((), 0)
    buckets = gradient_buckets(numels, itemsize, bucket_bytes)
    calls = tuple(sum(numels[i] for i in bucket) * itemsize for bucket in buckets)
    return StepTraffic(tuple(c for c in calls if c), itemsize)
