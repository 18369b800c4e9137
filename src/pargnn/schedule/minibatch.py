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

from pargnn.algorithms.single import SingleProcess
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
class LoadedBatch:
    """A share of a global batch, ready to compute: one algorithm per layer (its block on the
    device), the input rows, the seeds' labels, and where it belongs."""

    key: tuple[int, int]  # (epoch, batch index)
    algorithms: list[SingleProcess]
    x: Tensor
    labels: Tensor


@dataclass(frozen=True)
class BatchSource:
    """Where a step's blocks and rows come from: the sampler, its fanouts (seeds outwards),
    the feature rows, every vertex's label (on the host) and input-graph id (where the sampler
    runs), and the run's seed."""

    sampler: NeighborSampler
    fanouts: tuple[int, ...]
    inputs: FeatureRows
    labels: Tensor
    original_ids: Tensor
    seed: int

    def sample(self, epoch: int, batch: int, seeds: Tensor) -> SampledBatch:
        keys = [sampling_key(self.seed, epoch, batch, hop) for hop in range(len(self.fanouts))]
        return self.sampler.sample(seeds, self.fanouts, keys)

    def load(self, epoch: int, batch: int, seeds: Tensor, stats: SamplingStats) -> LoadedBatch:
        """Sample the share ``seeds`` of global batch ``batch`` (timed into ``stats``) and
        put its blocks and rows on the device."""
        start = time.perf_counter()
        sampled = self.sample(epoch, batch, seeds)
        stats.seconds += time.perf_counter() - start
        stats.edges += sampled.edges
        inputs = self.inputs
        algorithms = [block.algorithm(self.original_ids, inputs.dtype, inputs.device)
                      for block in sampled.blocks]
        return LoadedBatch((epoch, batch), algorithms, inputs.gather(sampled.input_ids),
                           self.labels[seeds].to(inputs.device, non_blocking=True))


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
        self._ahead: LoadedBatch | None = None

    def steps(self, epoch: int) -> Iterator[Step]:
        self.sampling.epochs += 1
        shares = list(self.batches.batches(epoch))
        for k, (index, size, seeds) in enumerate(shares):
            following = shares[k + 1] if k + 1 < len(shares) else None
            yield partial(self._step, epoch, index, size, seeds, following)

    def _step(self, epoch: int, index: int, size: int, seeds: Tensor,
              following: tuple[int, int, Tensor] | None = None) -> float:
        """One global batch: gradients of the whole batch, then the update; returns the
        batch's mean loss. On CUDA the next batch is sampled and sent while the device still
        works on this one (before the loss is read back)."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.batch_gradients(epoch, index, size, seeds)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if following is not None and self.source.inputs.device.type == "cuda":
            self._ahead = self._load(epoch, following[0], following[2])
        return float(loss)

    def batch_gradients(self, epoch: int, index: int, size: int, seeds: Tensor) -> Tensor:
        """This rank's share (``seeds``) of global batch ``index`` of ``size`` seeds forward
        and backward, then the reduction: every rank's parameters then hold the gradient of
        the whole batch's mean loss, which is returned."""
        loaded = self._load(epoch, index, seeds)
        if loaded is not None:
            step = epoch * self.batches.steps_per_epoch + index
            logits = self.model(loaded.algorithms, loaded.x, epoch=step)
            share = F.cross_entropy(logits, loaded.labels, reduction="sum") / size
            share.backward()
        else:
            share = torch.zeros((), dtype=self.source.inputs.dtype,
                                device=self.source.inputs.device)
        with self.reducer.comm.log.phase(GRADIENT_REDUCTION):
            self.reducer.reduce()
        with self.reducer.comm.log.phase(LOSS):
            return self.reducer.sum_scalar(share)

    def _load(self, epoch: int, index: int, seeds: Tensor) -> LoadedBatch | None:
        """The share, loaded ahead by the step before or now; ``None`` when it is empty."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.key == (epoch, index):
            return ahead
        return self.source.load(epoch, index, seeds, self.sampling) if seeds.numel() else None

    def evaluate(self) -> Accuracies:
        accuracies = self.evaluator.evaluate()
        check_replicas(list(self.model.parameters()), self.reducer.comm, self.reducer.world)
        return accuracies
