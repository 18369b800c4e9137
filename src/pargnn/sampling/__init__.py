"""Sampled mini-batches: which seeds a step trains on and which neighbours it reads.

Everything here is a pure function of global ids and keys, like dropout
(:mod:`pargnn.ops.dropout`): the seeds of global batch ``b`` in epoch ``e`` and the
neighbours a vertex draws for it depend on (seed, epoch, batch, hop, vertex id) only, never on
how many processes share the batch. That is what lets ``P`` data-parallel ranks train exactly
the model one process trains.
"""

from pargnn.sampling.batches import SeedBatches, rank_share
from pargnn.sampling.block import SampledBlock
from pargnn.sampling.neighbors import NeighborSampler, SampledBatch

__all__ = ["NeighborSampler", "SampledBatch", "SampledBlock", "SeedBatches", "rank_share"]
