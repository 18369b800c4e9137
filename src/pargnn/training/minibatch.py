"""What one process trains with in ``--mode minibatch``: sampler, schedule and estimate.

Every rank holds the whole graph's in-neighbour lists (the sampler may reach any vertex), the
feature array as the run handed it (a spawned rank maps the stored copy and reads only the
rows its batches need), and a replica of the model; see
:mod:`pargnn.schedule.minibatch` for what a step does.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from pargnn.algorithms.prepare import PreparedGraph
from pargnn.config import DTYPES, TrainConfig
from pargnn.cost.data_parallel import data_parallel_step
from pargnn.dist.comm import CommLog, Communicator
from pargnn.dist.data_parallel import GradientReducer
from pargnn.nn.models import GraphModel
from pargnn.optim import build_optimizer
from pargnn.sampling.batches import SeedBatches
from pargnn.sampling.features import FeatureRows
from pargnn.sampling.neighbors import NeighborSampler
from pargnn.schedule.layerwise import LayerwiseInference
from pargnn.schedule.minibatch import BatchSource, MiniBatchSchedule, SamplingStats


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))


def _sampler(prepared: PreparedGraph, device: torch.device, quiet: bool) -> NeighborSampler:
    """The sampler on the training device, so that a GPU samples its own blocks; on the host
    when the graph's lists do not fit there (said unless ``quiet``)."""
    if device.type != "cuda":
        return NeighborSampler(prepared.at)
    try:
        return NeighborSampler(prepared.at, device)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        if not quiet:
            print(f"pargnn: the graph's neighbour lists do not fit on {device}; sampling on "
                  "the host instead", file=sys.stderr, flush=True)
        return NeighborSampler(prepared.at)


@dataclass
class MiniBatchSession:
    """The objects one process trains mini-batches with."""

    model: GraphModel
    schedule: MiniBatchSchedule

    def stored_bytes(self) -> int:
        """Bytes of the graph this process holds: the neighbour lists and, on CUDA, the
        pinned features (mapped pages are the file's, not the process's)."""
        source = self.schedule.source
        return source.sampler.stored_bytes() + source.inputs.stored_bytes()

    def sampling(self) -> SamplingStats:
        return self.schedule.sampling

    def details(self) -> dict[str, object]:
        """The run's mini-batch figures for the JSON file (a distributed run's merge replaces
        ``sampling`` with every rank's)."""
        return {"batch_size": self.schedule.batches.batch_size,
                "fanout": list(self.schedule.source.fanouts),
                "steps_per_epoch": self.schedule.batches.steps_per_epoch,
                "sampling": self.schedule.sampling.as_dict()}

    def estimate(self) -> dict[str, object]:
        """Per step: the most edges a share's blocks can have (none with a fanout of -1),
        and the exact all-reduce traffic (:mod:`pargnn.cost.data_parallel`)."""
        fanouts = self.schedule.source.fanouts
        parameters = list(self.model.parameters())
        traffic = data_parallel_step([p.numel() for p in parameters],
                                     parameters[0].element_size(), self.schedule.batches.world)
        share = math.ceil(self.schedule.batches.batch_size / self.schedule.batches.world)
        bound, frontier = 0, share
        for fanout in fanouts:  # each destination: its draws and its own entry
            frontier *= fanout + 1
            bound += frontier
        return {"mode": "minibatch", "steps_per_epoch": self.schedule.batches.steps_per_epoch,
                "max_sampled_edges_per_step": bound if -1 not in fanouts else None,
                "parameters": sum(p.numel() for p in parameters),
                "allreduce_bytes_per_step": traffic.bytes,
                "allreduce_messages_per_step": traffic.calls}


def build_minibatch_session(prepared: PreparedGraph, config: TrainConfig,
                            device: torch.device, model: GraphModel,
                            comm: Communicator | None = None) -> MiniBatchSession:
    """This process's mini-batch session (every rank of a data-parallel run calls it)."""
    world = dist.get_world_size() if comm is not None else 1
    rank = dist.get_rank() if comm is not None else 0
    comm = comm or Communicator(CommLog())
    train_ids = torch.from_numpy(np.flatnonzero(prepared.train_mask)).to(torch.int64)
    sampler = _sampler(prepared, device, quiet=config.quiet or rank != 0)
    inputs = FeatureRows(prepared.features, DTYPES[config.dtype], device)
    labels = _tensor(prepared.labels).to(torch.int64)
    original_ids = _tensor(prepared.original_ids).to(device=sampler.device, dtype=torch.int64)
    masks = (_tensor(prepared.train_mask), _tensor(prepared.val_mask),
             _tensor(prepared.test_mask))
    source = BatchSource(sampler, config.fanouts(), inputs, labels, original_ids, config.seed)
    batches = SeedBatches(train_ids, config.global_batch_size, config.seed, rank, world)
    parameters = list(model.parameters())
    optimizer = build_optimizer(config.optimizer, parameters, lr=config.lr,
                                weight_decay=config.weight_decay, momentum=config.momentum,
                                trust_coefficient=config.trust_coefficient)
    evaluator = LayerwiseInference(model, sampler, inputs, labels, masks, original_ids,
                                   comm, rank, world)
    schedule = MiniBatchSchedule(model, optimizer, source, batches,
                                 GradientReducer(parameters, comm, world), evaluator)
    return MiniBatchSession(model, schedule)
