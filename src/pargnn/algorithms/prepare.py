"""The graph as training multiplies it, prepared once per run, and each rank's cut of it.

A run normalises the adjacency for its model (:mod:`pargnn.graph.normalize`), transposes it
and normalises the features once (:func:`prepare_graph`), in the process that loaded the
graph; spawned ranks receive the result. Each algorithm family then puts the vertices in its
run order (the ``--permute`` shuffle, or a partition's parts as contiguous ranges:
:meth:`PreparedGraph.reordered`), cuts out exactly this rank's blocks of ``A^T``, ``A`` and
of the vertex data, and lets go of the rest. Global vertex ids (before any reordering) travel
with the rows, so dropout masks, and therefore the whole trajectory, are those of a single
process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from pargnn.algorithms.contract import LocalData
from pargnn.dist.comm import Communicator
from pargnn.graph.graph import Graph
from pargnn.graph.normalize import normalize_adjacency, row_normalize_features
from pargnn.graph.partition import Partition, partition_graph
from pargnn.ops.sparse import writable_array


@dataclass(frozen=True)
class BuildOptions:
    """How a rank builds its algorithm, besides its grid.

    ``permute`` shuffles the vertices before contiguous blocks are cut (the broadcast
    algorithms); ``partition`` (with its vertex ``partition_weights`` and ``partition_cache``
    folder) is how the sparsity-aware ones cut their parts; ``seed`` seeds both.
    """

    dtype: torch.dtype = torch.float32
    device: torch.device = torch.device("cpu")
    seed: int = 0
    permute: bool = False
    partition: str | None = None
    partition_weights: str = "none"
    partition_cache: str | None = None


@dataclass(frozen=True)
class PreparedGraph:
    """The normalised operator in both orientations and the vertex data, in run order.

    ``original_ids[v]`` is the id (in the input graph) of the vertex at position ``v``;
    ``adjacency`` is the input adjacency in input order, which the partitioners read.
    """

    at: sp.csr_array
    a: sp.csr_array
    features: np.ndarray
    labels: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    original_ids: np.ndarray
    num_classes: int
    adjacency: sp.csr_array
    summary: dict[str, object]

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def reordered_ids(self) -> np.ndarray | None:
        """``original_ids`` when the run reordered the vertices, else ``None``."""
        identity = np.array_equal(self.original_ids, np.arange(self.n))
        return None if identity else self.original_ids

    def reordered(self, order: np.ndarray) -> PreparedGraph:
        """The graph with position ``v`` holding the vertex at position ``order[v]`` now."""
        a = sp.csr_array(self.a[order][:, order])
        a.sort_indices()
        at = sp.csr_array(a.T)
        at.sort_indices()
        return replace(self, at=at, a=a, features=self.features[order],
                       labels=self.labels[order], train_mask=self.train_mask[order],
                       val_mask=self.val_mask[order], test_mask=self.test_mask[order],
                       original_ids=self.original_ids[order])

    def split_counts(self) -> dict[str, int]:
        """Vertices in each split over the whole graph."""
        return {"train": int(self.train_mask.sum()), "val": int(self.val_mask.sum()),
                "test": int(self.test_mask.sum())}


def prepared_features(graph: Graph, mode: str) -> np.ndarray:
    """The input features after the configured normalisation (``auto``, ``row``, ``none``)."""
    x = graph.features
    if mode == "row" or (mode == "auto" and bool((x >= 0).all())):
        return row_normalize_features(x)
    return x


def prepare_graph(graph: Graph, normalization: str, feature_norm: str = "auto"
                  ) -> PreparedGraph:
    """``graph`` as training multiplies it: ``A`` normalised as the model asks, ``A^T``, the
    normalised features; input order."""
    adjacency = graph.adjacency()
    a = normalize_adjacency(adjacency, normalization)
    at = sp.csr_array(a.T)
    at.sort_indices()
    return PreparedGraph(
        at=at, a=a, features=prepared_features(graph, feature_norm), labels=graph.labels,
        train_mask=graph.train_mask, val_mask=graph.val_mask, test_mask=graph.test_mask,
        original_ids=np.arange(graph.num_nodes), num_classes=graph.num_classes,
        adjacency=adjacency, summary=graph.summary())


def vertex_permutation(n: int, seed: int) -> np.ndarray:
    """The ``--permute`` order: position ``v`` holds original vertex ``perm[v]``."""
    return np.random.default_rng([seed, 0x5EED]).permutation(n)


def in_run_order(prepared: PreparedGraph, options: BuildOptions) -> PreparedGraph:
    """The broadcast algorithms' order: the ``--permute`` shuffle, or the input order."""
    if not options.permute:
        return prepared
    return prepared.reordered(vertex_permutation(prepared.n, options.seed))


def rows_data(prepared: PreparedGraph, rows: tuple[int, int], cols: tuple[int, int],
              options: BuildOptions) -> LocalData:
    """Vertex rows ``[lo, hi)`` (run order) and feature columns ``cols`` of the data."""
    lo, hi = rows
    device = options.device

    def part(a: np.ndarray) -> torch.Tensor:  # copied only where mapped read-only
        return torch.from_numpy(writable_array(a[lo:hi])).to(device)

    features = writable_array(prepared.features[lo:hi, cols[0]:cols[1]])
    return LocalData(
        features=torch.from_numpy(features).to(device=device, dtype=options.dtype),
        labels=part(prepared.labels), train_mask=part(prepared.train_mask),
        val_mask=part(prepared.val_mask), test_mask=part(prepared.test_mask),
        row_ids=part(prepared.original_ids).to(torch.int64),
        feature_ids=torch.arange(cols[0], cols[1], device=device),
    )


def shared_partition(prepared: PreparedGraph, options: BuildOptions, parts: int,
                     comm: Communicator) -> Partition:
    """Rank 0 partitions the graph and every rank receives the result (one METIS run, and
    every rank agrees even where METIS would differ between machines)."""
    n = prepared.n
    order = torch.empty(n, dtype=torch.int64)
    offsets = torch.empty(parts + 1, dtype=torch.int64)
    method = options.partition or "metis"
    if dist.get_rank() == 0:
        partition = partition_graph(prepared.adjacency, parts, method, options.seed,
                                    options.partition_weights, options.partition_cache)
        order.copy_(torch.from_numpy(partition.order.astype(np.int64)))
        offsets.copy_(torch.from_numpy(partition.offsets.astype(np.int64)))
    comm.broadcast(order, 0, None, dist.get_world_size())
    comm.broadcast(offsets, 0, None, dist.get_world_size())
    return Partition(method, order.numpy(), offsets.numpy())
