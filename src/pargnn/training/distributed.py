"""Setting up one rank of a distributed run: its blocks of the graph and its algorithm.

Every rank builds the same graph (from the same file or seeded spec), normalises it, applies
the optional vertex permutation, cuts out exactly its own blocks of ``A``, ``A^T``, features,
labels and masks, and lets go of the rest: after setup no rank holds a full copy of the
features. Global vertex ids (before any permutation) travel with the rows, so dropout masks,
and therefore the whole trajectory, are those of a single process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from pargnn.dist.comm import Communicator
from pargnn.dist.grid import GridSpec, ProcessGrid
from pargnn.graph.graph import Graph
from pargnn.graph.normalize import normalize_adjacency
from pargnn.graph.partition import Partition, partition_graph
from pargnn.nn.models import MODELS
from pargnn.spmm.contract import LocalData
from pargnn.spmm.grid import GridAlgorithm, global_split_counts
from pargnn.spmm.layout import GridLayout
from pargnn.spmm.one_five_d import OneFiveD, ReplicatedPlace, build_stage_blocks
from pargnn.spmm.sparsity_aware import SparsityAware1D, plan_halo
from pargnn.spmm.sparsity_aware_replicated import SparsityAware15D, plan_replicated_halo
from pargnn.spmm.summa import GridPlace, build_operator
from pargnn.training.config import TrainConfig
from pargnn.training.setup import DTYPES, prepared_features


@dataclass(frozen=True)
class PreparedGraph:
    """The normalised operator in both orientations and the vertex data, in run order.

    ``original_ids[v]`` is the id (in the input graph) of the vertex at position ``v``.
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


def vertex_permutation(n: int, seed: int) -> np.ndarray:
    """The ``--permute`` order: position ``v`` holds original vertex ``perm[v]``."""
    return np.random.default_rng([seed, 0x5EED]).permutation(n)


def prepare_graph(graph: Graph, config: TrainConfig, order: np.ndarray | None = None
                  ) -> PreparedGraph:
    """The normalised graph in run order: ``order`` (a partition's), else the ``--permute``
    order, else the input order."""
    adjacency = normalize_adjacency(graph.adjacency(), MODELS[config.model].normalization)
    features = prepared_features(graph, config.feature_norm)
    reorder = order is not None or config.permute
    if order is None:
        order = (vertex_permutation(graph.num_nodes, config.seed) if config.permute
                 else np.arange(graph.num_nodes))
    if reorder:
        adjacency = sp.csr_array(adjacency[order][:, order])
        adjacency.sort_indices()
    at = sp.csr_array(adjacency.T)
    at.sort_indices()
    return PreparedGraph(
        at=at, a=adjacency, features=features[order], labels=graph.labels[order],
        train_mask=graph.train_mask[order], val_mask=graph.val_mask[order],
        test_mask=graph.test_mask[order], original_ids=order, num_classes=graph.num_classes,
    )


def grid_local_data(prepared: PreparedGraph, place: GridPlace | ReplicatedPlace) -> LocalData:
    lo, hi = place.rows
    c_lo, c_hi = place.cols(prepared.features.shape[1])
    device = place.device

    def rows(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a[lo:hi])).to(device)

    features = np.ascontiguousarray(prepared.features[lo:hi, c_lo:c_hi])
    return LocalData(
        features=torch.from_numpy(features).to(device=device, dtype=place.dtype),
        labels=rows(prepared.labels),
        train_mask=rows(prepared.train_mask),
        val_mask=rows(prepared.val_mask),
        test_mask=rows(prepared.test_mask),
        row_ids=rows(prepared.original_ids).to(torch.int64),
        feature_ids=torch.arange(c_lo, c_hi, device=device),
    )


def build_algorithm(graph: Graph, config: TrainConfig, spec: GridSpec, comm: Communicator,
                    device: torch.device
                    ) -> GridAlgorithm | OneFiveD | SparsityAware1D | SparsityAware15D:
    """This rank's algorithm for ``spec``."""
    if spec.algorithm == "1.5d":
        return build_one_five_d(graph, config, spec, comm, device)
    if spec.algorithm == "sa1d":
        return build_sparsity_aware(graph, config, spec, comm, device)
    if spec.algorithm == "sa1.5d":
        return build_sparsity_aware_replicated(graph, config, spec, comm, device)
    return build_grid_algorithm(graph, config, spec, comm, device)


def build_grid_algorithm(graph: Graph, config: TrainConfig, spec: GridSpec,
                         comm: Communicator, device: torch.device) -> GridAlgorithm:
    """This rank's :class:`GridAlgorithm` for a 1D, 2D or 3D grid."""
    prepared = prepare_graph(graph, config)
    grid = ProcessGrid(spec, device.type)
    rows, cols, layers = spec.shape
    layout = GridLayout(graph.num_nodes, rows, cols, layers)
    place = GridPlace(grid, comm, layout, device, DTYPES[config.dtype])
    counts = global_split_counts(prepared.train_mask, prepared.val_mask, prepared.test_mask)
    return GridAlgorithm(
        place,
        at=build_operator(prepared.at, place),
        a=build_operator(prepared.a, place),
        data=grid_local_data(prepared, place),
        num_classes=prepared.num_classes,
        global_counts=counts,
        original_ids=prepared.original_ids if config.permute else None,
    )


def build_one_five_d(graph: Graph, config: TrainConfig, spec: GridSpec, comm: Communicator,
                     device: torch.device) -> OneFiveD:
    """This rank's :class:`OneFiveD` algorithm."""
    prepared = prepare_graph(graph, config)
    grid = ProcessGrid(spec, device.type)
    place = ReplicatedPlace(grid, comm, graph.num_nodes, device, DTYPES[config.dtype])
    counts = global_split_counts(prepared.train_mask, prepared.val_mask, prepared.test_mask)
    return OneFiveD(
        place,
        at=build_stage_blocks(prepared.at, place),
        a=build_stage_blocks(prepared.a, place),
        data=grid_local_data(prepared, place),
        num_classes=prepared.num_classes,
        global_counts=counts,
        original_ids=prepared.original_ids if config.permute else None,
    )


def shared_partition(graph: Graph, config: TrainConfig, parts: int,
                     comm: Communicator) -> Partition:
    """Rank 0 partitions the graph and every rank receives the result (one METIS run, and
    every rank agrees even where METIS would differ between machines)."""
    n = graph.num_nodes
    order = torch.empty(n, dtype=torch.int64)
    offsets = torch.empty(parts + 1, dtype=torch.int64)
    method = config.partition or "metis"
    if dist.get_rank() == 0:
        partition = partition_graph(graph.adjacency(), parts, method, config.seed,
                                    config.partition_weights, config.partition_cache)
        order.copy_(torch.from_numpy(partition.order.astype(np.int64)))
        offsets.copy_(torch.from_numpy(partition.offsets.astype(np.int64)))
    comm.broadcast(order, 0, None, dist.get_world_size())
    comm.broadcast(offsets, 0, None, dist.get_world_size())
    return Partition(method, order.numpy(), offsets.numpy())


def build_sparsity_aware(graph: Graph, config: TrainConfig, spec: GridSpec,
                         comm: Communicator, device: torch.device) -> SparsityAware1D:
    """This rank's :class:`SparsityAware1D`: partition, permute, find the halo."""
    partition = shared_partition(graph, config, spec.size, comm)
    prepared = prepare_graph(graph, config, partition.order)
    grid = ProcessGrid(spec, device.type)
    offsets = tuple(int(o) for o in partition.offsets)
    layout = GridLayout(graph.num_nodes, spec.size, 1, 1, offsets=offsets)
    place = GridPlace(grid, comm, layout, device, DTYPES[config.dtype])
    lo, hi = place.rows
    halo, compact, positions = plan_halo(place, sp.csr_array(prepared.at[lo:hi]))
    counts = global_split_counts(prepared.train_mask, prepared.val_mask, prepared.test_mask)
    return SparsityAware1D(
        place, halo, compact, positions,
        data=grid_local_data(prepared, place),
        num_classes=prepared.num_classes,
        global_counts=counts,
        original_ids=None if partition.method == "block" else prepared.original_ids,
    )


def build_sparsity_aware_replicated(graph: Graph, config: TrainConfig, spec: GridSpec,
                                    comm: Communicator, device: torch.device
                                    ) -> SparsityAware15D:
    """This rank's :class:`SparsityAware15D`: partition into ``P / c`` parts, permute, find
    the halo of its stages within its team."""
    teams = spec.shape[0]
    partition = shared_partition(graph, config, teams, comm)
    prepared = prepare_graph(graph, config, partition.order)
    grid = ProcessGrid(spec, device.type)
    offsets = tuple(int(o) for o in partition.offsets)
    place = ReplicatedPlace(grid, comm, graph.num_nodes, device, DTYPES[config.dtype], offsets)
    lo, hi = place.rows
    halo, compact, positions = plan_replicated_halo(place, sp.csr_array(prepared.at[lo:hi]))
    counts = global_split_counts(prepared.train_mask, prepared.val_mask, prepared.test_mask)
    return SparsityAware15D(
        place, halo, compact, positions,
        data=grid_local_data(prepared, place),
        num_classes=prepared.num_classes,
        global_counts=counts,
        original_ids=None if partition.method == "block" else prepared.original_ids,
    )
