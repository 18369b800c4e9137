"""Layer-wise inference: every vertex's prediction with all of its neighbours, in batches.

Sampled training evaluates on the full graph, not on samples, so that validation and test
accuracy are deterministic: layer ``l`` is computed for all vertices before layer ``l + 1``,
each batch of destination rows from its complete in-neighbourhood (fanout -1, the full
normalised operator's rows, built once and kept; batches of at most ``2^24`` in-edges), which
costs one SpMM-sized pass per layer instead of a neighbourhood that grows with every hop.
With ``P`` data-parallel ranks each computes its contiguous share of the rows of a layer and
an all-gather gives every rank the whole layer (shares padded to ``ceil(n / P)`` rows); one
all-reduce sums the correct counts of the last layer.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pargnn.algorithms.single import SingleProcess
from pargnn.dist.comm import Communicator
from pargnn.nn.models import GraphModel
from pargnn.sampling.batches import rank_share
from pargnn.sampling.features import FeatureRows
from pargnn.sampling.neighbors import ALL, NeighborSampler
from pargnn.schedule.base import Accuracies

EVALUATION_EDGES = 1 << 24  # the most in-edges of one inference batch


class LayerwiseInference:
    """Full-neighbour inference over all vertices, one layer at a time.

    Args:
        model: the model (its :meth:`~pargnn.nn.models.GraphModel.apply_layer`).
        sampler: the graph's in-neighbour lists.
        inputs: the feature rows.
        labels: every vertex's label; ``masks``: train, validation and test, per vertex.
        original_ids: every vertex's id in the input graph.
        comm, rank, world: the data-parallel group (``world = 1``: alone).
        batch_edges: the most in-edges of one batch of destination rows (its block's size;
            a row with more takes a batch alone).
    """

    def __init__(self, model: GraphModel, sampler: NeighborSampler, inputs: FeatureRows,
                 labels: Tensor, masks: tuple[Tensor, Tensor, Tensor], original_ids: Tensor,
                 comm: Communicator | None = None, rank: int = 0, world: int = 1,
                 batch_edges: int = EVALUATION_EDGES) -> None:
        self.model, self.sampler, self.inputs = model, sampler, inputs
        self.labels, self.masks, self.original_ids = labels, masks, original_ids
        self.comm, self.rank, self.world = comm, rank, world
        self.batch_edges = batch_edges
        self.rows = rank_share(sampler.vertices, rank, world)
        self._cached: list[tuple[Tensor, SingleProcess]] | None = None

    @torch.no_grad()
    def evaluate(self) -> Accuracies:
        self.model.eval()
        h: Tensor | None = None
        layers = len(self.model.layers())
        for index in range(layers):
            mine = self._layer(index, h)
            if index < layers - 1:
                h = self._gathered(mine)
        return self._accuracies(mine)

    def _layer(self, index: int, h: Tensor | None) -> Tensor:
        """Layer ``index`` for this rank's rows, from the previous layer's rows of all."""
        width = int(self.model.layers()[index].out_features)
        parts = [torch.empty((0, width), dtype=self.inputs.dtype, device=self.inputs.device)]
        for sources, algorithm in self._blocks():
            x = self.inputs.gather(sources) if h is None else h[sources.to(h.device)]
            parts.append(self.model.apply_layer(index, algorithm, x))
        return torch.cat(parts)

    def _blocks(self) -> list[tuple[Tensor, SingleProcess]]:
        """Per batch of this rank's rows: its sources and the algorithm over its full
        in-neighbourhood. They are the same for every layer and epoch, so they are built on
        the first evaluation and kept (together, the rank's rows of the normalised operator)."""
        if self._cached is None:
            self._cached = []
            for start, end in self._batches():
                block = self.sampler.sample_hop(torch.arange(start, end), ALL)
                self._cached.append((block.source_ids, block.algorithm(
                    self.original_ids, self.inputs.dtype, self.inputs.device)))
        return self._cached

    def _batches(self) -> list[tuple[int, int]]:
        """This rank's rows cut into runs of at most ``batch_edges`` in-edges (few, large
        batches: each one gathers its sources' rows of the layer below)."""
        lo, hi = self.rows
        ends = self.sampler.indptr.cpu()
        runs, start = [], lo
        while start < hi:
            limit = ends[start] + self.batch_edges
            end = int(torch.searchsorted(ends[start + 1:hi + 1], limit, right=True)) + start
            end = min(hi, max(end, start + 1))
            runs.append((start, end))
            start = end
        return runs

    def _gathered(self, mine: Tensor) -> Tensor:
        """Every rank's rows of one layer, in vertex order."""
        if self.world == 1 or self.comm is None:
            return mine
        n = self.sampler.vertices
        padded_rows = -(-n // self.world)
        padded = torch.zeros((padded_rows, mine.shape[1]), dtype=mine.dtype, device=mine.device)
        padded[: mine.shape[0]] = mine
        every = torch.empty((self.world * padded_rows, mine.shape[1]), dtype=mine.dtype,
                            device=mine.device)
        self.comm.all_gather(every, padded, None, self.world)
        shares = [rank_share(n, r, self.world) for r in range(self.world)]
        return torch.cat([every[r * padded_rows: r * padded_rows + hi - lo]
                          for r, (lo, hi) in enumerate(shares)])

    def _accuracies(self, logits: Tensor) -> Accuracies:
        lo, hi = self.rows
        predicted = logits.argmax(dim=1).cpu()
        right = predicted == self.labels[lo:hi]
        counts = torch.tensor([[int(right[m[lo:hi]].sum()), int(m[lo:hi].sum())]
                               for m in self.masks], dtype=torch.int64, device=logits.device)
        if self.comm is not None:
            self.comm.all_reduce(counts, None, self.world)
        return Accuracies(*(c / t if t else float("nan") for c, t in counts.tolist()))
