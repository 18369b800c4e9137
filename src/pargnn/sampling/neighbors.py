"""Node-wise neighbour sampling over the normalised operator, keyed by global ids.

For each destination ``j`` of a hop, the sampler draws ``min(f, d_j)`` of ``j``'s ``d_j``
in-neighbours without replacement (Floyd's algorithm, :mod:`pargnn.sampling.floyd`), or all
of them for a fanout of ``-1``; which ones is a function of (key, ``j``) alone, where the key
is (seed, epoch, batch, hop). A destination keeps its own entry (the self-loop that GCN and
GAT add) unsampled.

**Weights.** Each block keeps the weights of the full normalised operator and scales every
sampled neighbour's weight by ``d_j / s_j`` (``s_j`` the number drawn), so that the block's
aggregate is an unbiased estimate of the full graph's and equals it when ``s_j = d_j``:

* GCN: ``w_jj = 1/d^_j`` plus ``sum_{i in S_j} (d_j/s_j) / sqrt(d^_i d^_j)`` (degrees ``d^``
  of the full graph with self-loops);
* SAGE (mean): ``1/s_j`` per sampled neighbour, the mean over the sample;
* GIN (sum): ``d_j/s_j`` per sampled neighbour, the scaled sum;
* GAT: the structure only; attention normalises over the sampled in-edges and the self-loop.

Every weight depends on the destination and global degrees only, never on which other
vertices share the batch, so ``P`` ranks splitting a batch compute what one process does.

**Fanouts** are given from the seeds outwards, as PyG's ``num_neighbors``: ``--fanout 15,10``
draws 15 neighbours of every seed (the last layer's block) and 10 of each of those (the
first layer's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.ops.dropout import keyed_words, mixed_key
from pargnn.sampling.block import Relabeler, SampledBlock
from pargnn.sampling.csr import sort_columns
from pargnn.sampling.floyd import floyd_positions

ALL = -1  # the fanout that takes every neighbour
_SAMPLING_STREAM = 0x5A


def sampling_key(seed: int, epoch: int, batch: int, hop: int) -> int:
    """The key of one hop of one global batch."""
    return mixed_key(seed, epoch, batch, hop, _SAMPLING_STREAM)


@dataclass(frozen=True)
class SampledBatch:
    """The blocks of one batch, first layer first; the last block's destinations are the
    seeds and the first block's sources are the vertices whose features the batch reads."""

    blocks: list[SampledBlock]

    @property
    def input_ids(self) -> Tensor:
        return self.blocks[0].source_ids

    @property
    def seed_ids(self) -> Tensor:
        return self.blocks[-1].destination_ids

    @property
    def edges(self) -> int:
        return sum(block.edges for block in self.blocks)


def _segments(counts: Tensor) -> tuple[Tensor, Tensor]:
    """For rows of ``counts`` entries: each entry's row and its position within the row."""
    device = counts.device
    rows = torch.repeat_interleave(torch.arange(counts.shape[0], device=device), counts)
    starts = torch.cumsum(counts, 0) - counts
    return rows, torch.arange(rows.shape[0], device=device) - starts.index_select(0, rows)


class NeighborSampler:
    """Samples blocks from the in-neighbour lists of a normalised operator.

    Args:
        at: the full graph's normalised ``A^T`` (row ``j``: the in-neighbours of ``j``
            and their weights), as :class:`~pargnn.algorithms.prepare.PreparedGraph` has it.
        device: where the lists live and the sampling runs (a GPU samples without sending
            the blocks over the bus; the draws are the same on every device).
    """

    def __init__(self, at: sp.csr_array, device: torch.device | None = None) -> None:
        n = at.shape[0]
        indptr = np.asarray(at.indptr, dtype=np.int64)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        indices = np.asarray(at.indices, dtype=np.int64)
        values = np.asarray(at.data, dtype=np.float64)
        neighbour = indices != rows
        loops = np.zeros(n, dtype=np.float64)
        np.add.at(loops, rows[~neighbour], values[~neighbour])
        self.vertices = n
        self.device = device or torch.device("cpu")

        def put(a: np.ndarray) -> Tensor:
            return torch.from_numpy(a).to(self.device)

        self.indptr = put(np.concatenate(
            ([0], np.cumsum(np.bincount(rows[neighbour], minlength=n)))).astype(np.int64))
        self.indices = put(indices[neighbour])
        self.values = put(values[neighbour])
        self.loop_weights = put(loops)
        self.has_loop = put(np.bincount(rows[~neighbour], minlength=n) > 0)
        self._relabel = Relabeler(n, self.device)

    def stored_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in
                   (self.indptr, self.indices, self.values, self.loop_weights, self.has_loop)
                   ) + self._relabel.stored_bytes()

    def sample(self, seeds: Tensor, fanouts: tuple[int, ...], key_of_hop: list[int]
               ) -> SampledBatch:
        """The blocks of a batch of distinct ``seeds``: hop ``h`` (from the seeds outwards)
        draws ``fanouts[h]`` neighbours with key ``key_of_hop[h]``."""
        blocks = []
        frontier = seeds.to(device=self.device, dtype=torch.int64)
        for fanout, key in zip(fanouts, key_of_hop, strict=True):
            block = self.sample_hop(frontier, fanout, key)
            blocks.append(block)
            frontier = block.source_ids
        return SampledBatch(blocks[::-1])

    def sample_hop(self, destinations: Tensor, fanout: int, key: int = 0) -> SampledBlock:
        """One block: ``fanout`` in-neighbours of each destination (``-1``: all of them)."""
        destinations = destinations.to(self.device)
        starts = self.indptr.index_select(0, destinations)
        degrees = self.indptr.index_select(0, destinations + 1) - starts
        taken = degrees if fanout == ALL else torch.clamp(degrees, max=fanout)
        rows, slot = _segments(taken)
        within = slot.clone()
        sampled = torch.nonzero(taken < degrees).flatten()
        if sampled.numel():
            slots = ((torch.cumsum(taken, 0) - taken)[sampled, None]
                     + torch.arange(fanout, device=self.device))
            words = keyed_words(key, destinations.index_select(0, sampled))
            picks = floyd_positions(words, degrees.index_select(0, sampled), fanout)
            within.index_copy_(0, slots.flatten(), picks.flatten())
        positions = starts.index_select(0, rows) + within
        drawn = self.indices.index_select(0, positions)
        scale = degrees.to(torch.float64) / taken.clamp(min=1)
        weights = self.values.index_select(0, positions) * scale.index_select(0, rows)
        return self._block(destinations, taken, (rows, slot), drawn, weights)

    def _block(self, destinations: Tensor, taken: Tensor, edges: tuple[Tensor, Tensor],
               drawn: Tensor, weights: Tensor) -> SampledBlock:
        """The block of the drawn edges (``edges``: each one's row and place in it;
        ``taken[j]`` of them for destination ``j``) plus each destination's own entry, first
        in its row."""
        sources, local = self._relabel(destinations, drawn)
        looped = self.has_loop.index_select(0, destinations).to(torch.int64)
        indptr = torch.cat((looped.new_zeros(1), torch.cumsum(taken + looped, 0)))
        rows, slot = edges
        at_edge = (indptr[:-1] + looped).index_select(0, rows) + slot
        own = torch.nonzero(looped).flatten()
        starts = indptr.index_select(0, own)
        cols = looped.new_empty(int(indptr[-1]))
        values = weights.new_empty(int(indptr[-1]))
        cols.index_copy_(0, at_edge, local).index_copy_(0, starts, own)
        values.index_copy_(0, at_edge, weights).index_copy_(
            0, starts, self.loop_weights.index_select(0, destinations.index_select(0, own)))
        shape = (int(destinations.shape[0]), int(sources.shape[0]))
        cols, values = sort_columns(indptr, cols, values, shape)
        return SampledBlock(sources, shape[0], indptr, cols.to(self.device),
                            values.to(self.device))
