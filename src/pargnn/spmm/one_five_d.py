"""CAGNET's 1.5D algorithm: block rows replicated ``c`` times, the stages shared by the replicas.

``P = R x c`` processes: process ``(i, r)`` holds vertex block ``B[i]`` (one of ``R = P / c``
balanced blocks) of every dense matrix, whole in the feature dimension; the ``c`` processes
``(i, *)`` are replicas of one another. The aggregation ``Y[B[i]] = sum_s S[B[i], B[s]] X[B[s]]``
has ``R`` terms; replica ``r`` computes the contiguous chunk ``r`` of them (``R / c`` stages,
balanced when ``c`` does not divide ``R``), each stage broadcasting ``X[B[s]]`` from ``(s, r)``
within its team ``(*, r)``, and the replicas then all-reduce their partial sums along
``(i, *)``. Each process stores only the blocks ``S[B[i], B[s]]`` of its own stages, ``1/P`` of
``A`` like 1D, while the broadcasts shrink by ``c`` (the seeds' 1.5D: ``P/c^2`` broadcast
stages, then a reduction across the replicas). Backward runs the same with ``A`` for ``A^T``.

The dense transform is local (features are not split); ``dW`` and the bias gradient are
all-reduced within a team ``(*, r)``, which holds every block row once, so every process ends
with the full gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.dist.comm import Communicator
from pargnn.dist.differentiable import sum_gradient
from pargnn.dist.grid import ProcessGrid
from pargnn.nn.dropout import keyed_dropout
from pargnn.spmm.block_attention import StoredEdges, partial_head_scores
from pargnn.spmm.blocks import SparseBlock, sub_block
from pargnn.spmm.contract import (
    Counts,
    LocalData,
    local_data_bytes,
    split_of,
    tensor_bytes,
)
from pargnn.spmm.grid_attention import BACKWARD, AttentionStep
from pargnn.spmm.layout import balanced_offsets
from pargnn.spmm.paired import paired_spmm
from pargnn.spmm.replicated_attention import replicated_attend, replicated_stored_edges


@dataclass(frozen=True)
class ReplicatedPlace:
    """This process's block row, its replica index, groups and sizes."""

    grid: ProcessGrid
    comm: Communicator
    n: int
    device: torch.device
    dtype: torch.dtype
    offsets: tuple[int, ...] | None = None  # block row bounds; None: balanced

    @property
    def teams(self) -> int:  # R: block rows
        return self.grid.size("row")

    @property
    def replication(self) -> int:  # c
        return self.grid.size("rep")

    @property
    def i(self) -> int:
        return self.grid.coord("row")

    @property
    def r(self) -> int:
        return self.grid.coord("rep")

    def block(self, b: int) -> tuple[int, int]:
        off = balanced_offsets(self.n, self.teams) if self.offsets is None else self.offsets
        return int(off[b]), int(off[b + 1])

    @property
    def rows(self) -> tuple[int, int]:
        return self.block(self.i)

    def cols(self, width: int) -> tuple[int, int]:
        return 0, width

    def stages(self, r: int | None = None) -> range:
        """The blocks ``s`` whose term replica ``r`` (default: this one) computes."""
        off = balanced_offsets(self.teams, self.replication)
        k = self.r if r is None else r
        return range(int(off[k]), int(off[k + 1]))


def build_stage_blocks(matrix: sp.csr_array, place: ReplicatedPlace) -> dict[int, SparseBlock]:
    rows = place.rows
    return {s: SparseBlock.from_scipy(sub_block(matrix, rows, place.block(s)), place.dtype,
                                      place.device)
            for s in place.stages()}


def replicated_spmm(place: ReplicatedPlace, blocks: dict[int, SparseBlock], x: Tensor) -> Tensor:
    """``S X`` with ``X`` and the result in the 1.5D layout."""
    width = x.shape[1]
    out = torch.zeros_like(x)
    for s in place.stages():
        lo, hi = place.block(s)
        xs = x if s == place.i else x.new_empty(hi - lo, width)
        place.comm.broadcast(xs, place.grid.global_rank(row=s), place.grid.group("row"),
                             place.teams)
        if blocks[s].nnz and width:
            out += torch.sparse.mm(blocks[s].tensor(), xs)
    place.comm.all_reduce(out, place.grid.group("rep"), place.replication)
    return out


class _TeamSumGradient(torch.autograd.Function):
    """Identity forward; the backward all-reduces a parameter's gradient within the team."""

    @staticmethod
    def forward(ctx: Any, parameter: Tensor, place: ReplicatedPlace) -> Tensor:
        ctx.place = place
        return parameter.view_as(parameter)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        place: ReplicatedPlace = ctx.place
        total = grad.contiguous().clone()
        with place.comm.log.phase("dense_transform"):
            place.comm.all_reduce(total, place.grid.group("row"), place.teams)
        return total, None


class ReplicatedDenseSteps:
    """Every step of the contract but the graph's own (aggregation, attention) in the 1.5D
    layout: the dense transform, bias, scale, scores, dropout, loss and accuracy.

    Args:
        place: this process's block row, replica index and groups.
        data: its rows ``B[i]`` of the vertex data, every column.
        num_classes: width of the logits.
        global_counts: number of vertices in each split over the whole graph.
        original_ids: the input graph's id of the vertex at each position, when the run
            reorders the vertices (``None``: position is id); keys attention dropout.
    """

    def __init__(self, place: ReplicatedPlace, data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        self.place = place
        self._data = data
        self.num_classes = num_classes
        self.global_counts = global_counts
        self.original_ids = original_ids

    @property
    def data(self) -> LocalData:
        return self._data

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        shared: Tensor = _TeamSumGradient.apply(weight, self.place)
        return h @ shared

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        shared: Tensor = _TeamSumGradient.apply(bias, self.place)
        return h + shared

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        shared: Tensor = _TeamSumGradient.apply(factor, self.place)
        return h * shared

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        """Local scores of rows ``B[i]`` (every column is here); each replica uses them for
        its own stages' edges, so their gradient is summed over the replicas."""
        heads, width = attention.shape
        shared = sum_gradient(attention, self.place.comm, self.place.grid.group("row"),
                              self.place.teams, BACKWARD)
        scores = partial_head_scores(h, shared, (0, heads * width))
        return sum_gradient(scores, self.place.comm, self.place.grid.group("rep"),
                            self.place.replication, BACKWARD)

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        columns = torch.arange(width, device=h.device)
        return keyed_dropout(h, p, key, self._data.row_ids, columns)

    def class_columns(self, width: int) -> tuple[int, int]:
        return 0, width

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        total = self.global_counts[split_of(self._data, mask)]
        local = F.cross_entropy(logits[mask], self._data.labels[mask], reduction="sum") / total
        value = local.detach().reshape(1).clone()
        with self.place.comm.log.phase("loss"):
            self.place.comm.all_reduce(value, self.place.grid.group("row"), self.place.teams)
        return local + (value[0] - local).detach()

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        correct = (logits[mask].argmax(dim=1) == self._data.labels[mask]).sum()
        counts = torch.stack([correct, mask.sum()]).to(torch.int64)
        with self.place.comm.log.phase("loss"):
            self.place.comm.all_reduce(counts, self.place.grid.group("row"), self.place.teams)
        correct_all, total_all = (int(c) for c in counts.tolist())
        return Counts(correct=correct_all, total=total_all)


class OneFiveD(ReplicatedDenseSteps):
    """The :class:`~pargnn.spmm.contract.Algorithm` of CAGNET's 1.5D layout.

    Args:
        place, data, num_classes, global_counts, original_ids: as
            :class:`ReplicatedDenseSteps`.
        at, a: the blocks ``S[B[i], B[s]]`` of ``A^T`` and ``A`` for this replica's stages.
    """

    def __init__(self, place: ReplicatedPlace, at: dict[int, SparseBlock],
                 a: dict[int, SparseBlock], data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        super().__init__(place, data, num_classes, global_counts, original_ids)
        self.at, self.a = at, a

    def aggregate(self, h: Tensor) -> Tensor:
        return paired_spmm(h, partial(replicated_spmm, self.place, self.at),
                           partial(replicated_spmm, self.place, self.a), self.place.comm.log)

    @cached_property
    def stored_edges(self) -> list[tuple[int, StoredEdges]]:
        """The edges of the stored blocks of ``A^T`` (built on the first attention step)."""
        return replicated_stored_edges(self.place, self.at, self.original_ids)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        step = AttentionStep(heads, head_width, negative_slope, dropout, key)
        return replicated_attend(self.place, self.at, self.stored_edges, h, s_src, s_dst, step)

    def at_blocks(self) -> list[SparseBlock]:
        """The blocks of ``A^T`` this process stores."""
        return list(self.at.values())

    def stored_bytes(self) -> int:
        """Bytes of the graph this process holds: its sparse blocks and its vertex data."""
        blocks = list(self.at.values()) + list(self.a.values())
        return sum(tensor_bytes(b.indices, b.values) for b in blocks) + local_data_bytes(
            self._data)
