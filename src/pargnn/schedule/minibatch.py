"""Sampled mini-batch training, data-parallel over ``P`` ranks: the mini-batch schedule.

An epoch is ``ceil(T / B)`` steps over the shuffled training vertices
(:class:`~pargnn.sampling.batches.SeedBatches`). A step samples its share of the global
batch's blocks (:class:`~pargnn.sampling.neighbors.NeighborSampler`, keyed by the global
batch, so the share's subgraph is the one a single process would draw for those seeds),
gathers the input rows, runs the model block by block, and backpropagates its share of the
batch's mean loss, ``sum_{v in share} CE_v / |batch|``. The gradient all-reduce then gives every
rank the gradient of the whole batch's mean loss, and every rank takes the same optimiser step
(:mod:`pargnn.dist.data_parallel`). Dropout is keyed by the global step, so it too is the
same at any ``P``. Evaluation is full-neighbour layer-wise inference
(:mod:`pargnn.schedule.layerwise`), after which the ranks check that their replicas agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.dist.data_parallel import GradientReducer, check_replicas
from pargnn.dist.phases import GRADIENT_REDUCTION, LOSS
from pargnn.nn.models import GraphModel
from pargnn.sampling.batches import SeedBatches
from pargnn.sampling.features import FeatureRows
from pargnn.sampling.neighbors import NeighborSampler, SampledBatch, sampling_key
from pargnn.schedule.base import Accuracies, Step
from pargnn.schedule.layerwise import LayerwiseInference


@dataclass
class SamplingStats:
    """This rank's sampling work over the run: seconds spent drawing blocks, edges drawn."""

    seconds: float = 0.0
    edges: int = 0
    epochs: int = 0

    def as_dict(self, processes: int = 1) -> dict[str, float]:
        """Per epoch: the seconds one process spent sampling (the mean over ``processes``),
        the edges all of them drew; and the edges one process draws per second."""
        epochs = max(self.epochs, 1)
        return {"seconds_per_epoch": self.seconds / epochs / processes,
                "sampled_edges_per_epoch": self.edges / epochs,
                "sampled_edges_per_second": self.edges / self.seconds if self.seconds else 0.0}

    @staticmethod
    def total(every: list[SamplingStats]) -> SamplingStats:
        """The ranks' work summed (the epochs are the same on all)."""
        return SamplingStats(sum(s.seconds for s in every), sum(s.edges for s in every),
                             max(s.epochs for s in every))


@dataclass(frozen=True)
class BatchSource:
    """Where a step's blocks and rows come from: the sampler, its fanouts (seeds outwards),
    the feature rows, every vertex's label and input-graph id, and the run's seed."""

    sampler: NeighborSampler
    fanouts: tuple[int, ...]
    inputs: FeatureRows
    labels: Tensor
    original_ids: Tensor
    seed: int

    def sample(self, epoch: int, batch: int, seeds: Tensor) -> SampledBatch:
        keys = [sampling_key(self.seed, epoch, batch, hop) for hop in range(len(self.fanouts))]
        return self.sampler.sample(seeds, self.fanouts, keys)


class MiniBatchSchedule:
    """Sampled mini-batch steps over this rank's share of every global batch.

    Args:
        model: the replicated model.
        optimizer: updates ``model``'s parameters (the same on every rank).
        source: blocks and rows (:class:`BatchSource`).
        batches: the global batches and this rank's share.
        reducer: sums gradients over the ranks.
        evaluator: full-neighbour inference.
    """

    trains = True

    def __init__(self, model: GraphModel, optimizer: torch.optim.Optimizer, source: BatchSource,
                 batches: SeedBatches, reducer: GradientReducer,
                 evaluator: LayerwiseInference) -> None:
        self.model, self.optimizer, self.source = model, optimizer, source
        self.batches, self.reducer, self.evaluator = batches, reducer, evaluator
        self.sampling = SamplingStats()

    def steps(self, epoch: int) -> Iterator[Step]:
        self.sampling.epochs += 1
        for index, size, seeds in self.batches.batches(epoch):
            yield partial(self._step, epoch, index, size, seeds)

    def _step(self, epoch: int, index: int, size: int, seeds: Tensor) -> float:
        """One global batch: gradients of the whole batch, then the update; returns the
        batch's mean loss."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.batch_gradients(epoch, index, size, seeds)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss)

    def batch_gradients(self, epoch: int, index: int, size: int, seeds: Tensor) -> Tensor:
        """This rank's share (``seeds``) of global batch ``index`` of ``size`` seeds forward
        and backward, then the reduction: every rank's parameters then hold the gradient of
        the whole batch's mean loss, which is returned."""
        share = self._share_loss(epoch, index, size, seeds) if seeds.numel() else None
        if share is not None:
            share.backward()
        else:
            share = torch.zeros((), dtype=self.source.inputs.dtype,
                                device=self.source.inputs.device)
        with self.reducer.comm.log.phase(GRADIENT_REDUCTION):
            self.reducer.reduce()
        with self.reducer.comm.log.phase(LOSS):
            return self.reducer.sum_scalar(share)

    def _share_loss(self, epoch: int, index: int, size: int, seeds: Tensor) -> Tensor:
        """``sum_{v in seeds} CE_v / size`` on this rank's sampled blocks."""
        source = self.source
        start = time.perf_counter()
        batch = source.sample(epoch, index, seeds)
        self.sampling.seconds += time.perf_counter() - start
        self.sampling.edges += batch.edges
        inputs = source.inputs
        algorithms = [block.algorithm(source.original_ids, inputs.dtype, inputs.device)
                      for block in batch.blocks]
        x = inputs.gather(batch.input_ids)
        step = epoch * self.batches.steps_per_epoch + index
        logits = self.model(algorithms, x, epoch=step)
        labels = source.labels[batch.seed_ids].to(logits.device)
        return F.cross_entropy(logits, labels, reduction="sum") / size

    def evaluate(self) -> Accuracies:
        accuracies = self.evaluator.evaluate()
        check_replicas(list(self.model.parameters()), self.reducer.comm, self.reducer.world)
        return accuracies
