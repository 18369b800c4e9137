"""Full-graph training on a ``Pr x Pc x Pl`` process grid: CAGNET's 1D, 2D and 3D in one engine.

Layout (see :mod:`pargnn.spmm.layout`): process ``(i, j, l)`` holds rows ``B[i, l]`` and
feature columns ``F[j]`` of every dense matrix. The aggregation ``Y = S X`` (``S = A^T``
forward, ``S = A`` backward) runs in two steps:

1. **SUMMA over the slab of layer l.** For each stage ``s = 0 .. Pr - 1`` the sparse block
   ``S[V[i], B[s, l]]`` (stored on ``(i, s mod Pc, l)``) is broadcast along the grid row
   ``(i, *, l)`` and the dense block ``X[B[s, l], F[j]]`` (on ``(s, j, l)``) along the grid
   column ``(*, j, l)``; every process accumulates ``Y_l[V[i], F[j]] += S_block X_block``.
2. **Reduction across layers.** ``Y = sum_l Y_l`` is reduce-scattered along ``(i, j, *)`` so
   that ``(i, j, l)`` keeps rows ``B[i, l]`` (blocks padded to equal size for the collective).

With ``Pc = Pl = 1`` this is CAGNET's 1D algorithm (each block of ``X`` broadcast in turn;
the sparse blocks never move); with ``Pl = 1`` it is the 2D SUMMA (stationary output); with
``Pl > 1`` the 3D split with its reduction across layers. The backward pass of the aggregation
is the same procedure with ``A`` in place of ``A^T``, so directed graphs need no special case.

The dense transform ``Z = X W`` multiplies the local ``X[B, F[j]]`` by the rows ``F[j]`` of
the replicated ``W`` and reduce-scatters the partial products along the grid row so that each
process keeps its output columns; its backward all-gathers ``dZ`` along the row and all-reduces
``dW`` (and the bias gradient) over all processes, so every process holds the full gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

from pargnn.dist.comm import Communicator
from pargnn.dist.grid import ProcessGrid
from pargnn.errors import ConfigError
from pargnn.nn.dropout import keyed_dropout
from pargnn.spmm.blocks import SparseBlock, block_nnz, index_dtype_for, sub_block
from pargnn.spmm.contract import (
    Counts,
    LocalData,
    local_data_bytes,
    split_of,
    tensor_bytes,
)
from pargnn.spmm.layout import GridLayout
from pargnn.spmm.paired import paired_spmm


@dataclass(frozen=True)
class GridPlace:
    """This process's coordinates, groups and the grid's sizes."""

    grid: ProcessGrid
    comm: Communicator
    layout: GridLayout
    device: torch.device
    dtype: torch.dtype

    @property
    def i(self) -> int:
        return self.grid.coord("row")

    @property
    def j(self) -> int:
        return self.grid.coord("col")

    @property
    def layer(self) -> int:
        return self.grid.coord("layer")

    @property
    def rows(self) -> tuple[int, int]:
        return self.layout.block(self.i, self.layer)

    def cols(self, width: int) -> tuple[int, int]:
        return self.layout.features(width, self.j)


@dataclass(frozen=True)
class Operator:
    """One process's share of ``S`` (``A^T`` or ``A``) in the SUMMA arrangement.

    ``owned[s]`` is ``S[V[i], B[s, l]]`` for the stages ``s`` with ``s mod Pc == j``;
    ``nnz[s]`` is the non-zero count of that block for every stage (receive buffers).
    """

    owned: dict[int, SparseBlock]
    nnz: tuple[int, ...]
    index_dtype: torch.dtype


def build_operator(matrix: sp.csr_array, place: GridPlace) -> Operator:
    lay, i, j, layer = place.layout, place.i, place.j, place.layer
    rows = lay.grid_row(i)
    nnz, owned = [], {}
    for s in range(lay.rows):
        cols = lay.block(s, layer)
        nnz.append(block_nnz(matrix, rows, cols))
        if s % lay.cols == j:
            owned[s] = SparseBlock.from_scipy(sub_block(matrix, rows, cols), place.dtype,
                                              place.device)
    return Operator(owned, tuple(nnz), index_dtype_for(matrix.shape[0], matrix.nnz))


def summa_spmm(place: GridPlace, op: Operator, x: Tensor) -> Tensor:
    """``S X`` for ``X`` in the grid layout; the result is in the grid layout too."""
    lay, grid, comm = place.layout, place.grid, place.comm
    i, layer = place.i, place.layer
    v_lo, v_hi = lay.grid_row(i)
    width = x.shape[1]
    out = torch.zeros(v_hi - v_lo, width, dtype=x.dtype, device=x.device)
    for s in range(lay.rows):
        block = _sparse_stage(place, op, s)
        xs = x if s == i else x.new_empty(lay.block_size(s, layer), width)
        comm.broadcast(xs, grid.global_rank(row=s), grid.group("row"), lay.rows)
        if block.nnz and width:
            out += torch.sparse.mm(block.tensor(), xs)
    return _reduce_layers(place, out)


def _sparse_stage(place: GridPlace, op: Operator, s: int) -> SparseBlock:
    lay, grid = place.layout, place.grid
    owner = s % lay.cols
    if owner == place.j:
        block = op.owned[s]
    else:
        v_lo, v_hi = lay.grid_row(place.i)
        block = SparseBlock.empty_like_shape(v_hi - v_lo, lay.block_size(s, place.layer), op.nnz[s],
                                             op.index_dtype, place.dtype, place.device)
    source = grid.global_rank(col=owner)
    place.comm.broadcast(block.indices, source, grid.group("col"), lay.cols)
    place.comm.broadcast(block.values, source, grid.group("col"), lay.cols)
    return block


def _reduce_layers(place: GridPlace, partial: Tensor) -> Tensor:
    """Sum the layers' partial ``Y[V[i]]`` and keep rows ``B[i, l]`` (padded collective)."""
    lay = place.layout
    if lay.layers == 1:
        return partial
    pad, width = lay.max_block(), partial.shape[1]
    stacked = partial.new_zeros(lay.layers * pad, width)
    base = lay.grid_row(place.i)[0]
    for k in range(lay.layers):
        lo, hi = lay.block(place.i, k)
        stacked[k * pad: k * pad + hi - lo] = partial[lo - base: hi - base]
    mine = partial.new_empty(pad, width)
    place.comm.reduce_scatter(mine, stacked, place.grid.group("layer"), lay.layers)
    return mine[: lay.block_size(place.i, place.layer)]


def gather_columns(place: GridPlace, x: Tensor, width: int) -> Tensor:
    """``X[B, :]`` from every process's ``X[B, F[j]]`` along the grid row (padded)."""
    lay = place.layout
    if lay.cols == 1:
        return x
    pad = lay.max_features(width)
    mine = x.new_zeros(pad, x.shape[0])
    mine[: x.shape[1]] = x.T
    gathered = x.new_empty(lay.cols * pad, x.shape[0])
    place.comm.all_gather(gathered, mine, place.grid.group("col"), lay.cols)
    parts = [gathered[k * pad: k * pad + _span(lay.features(width, k))] for k in range(lay.cols)]
    return torch.cat(parts).T.contiguous()


def scatter_columns(place: GridPlace, partial: Tensor) -> Tensor:
    """Sum every process's full-width ``partial`` along the grid row; keep columns ``F[j]``."""
    lay, width = place.layout, partial.shape[1]
    if lay.cols == 1:
        return partial
    pad = lay.max_features(width)
    stacked = partial.new_zeros(lay.cols * pad, partial.shape[0])
    for k in range(lay.cols):
        lo, hi = lay.features(width, k)
        stacked[k * pad: k * pad + hi - lo] = partial[:, lo:hi].T
    mine = partial.new_empty(pad, partial.shape[0])
    place.comm.reduce_scatter(mine, stacked, place.grid.group("col"), lay.cols)
    return mine[: _span(place.cols(width))].T.contiguous()


def _span(r: tuple[int, int]) -> int:
    return r[1] - r[0]


class _Transform(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, place: GridPlace) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.place = place
        lo, hi = place.cols(weight.shape[0])
        with place.comm.log.phase("dense_transform"):
            return scatter_columns(place, x @ weight[lo:hi])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        x, weight = ctx.saved_tensors
        place: GridPlace = ctx.place
        lo, hi = place.cols(weight.shape[0])
        with place.comm.log.phase("dense_transform"):
            full = gather_columns(place, grad.contiguous(), weight.shape[1])
            grad_weight = torch.zeros_like(weight)
            grad_weight[lo:hi] = x.T @ full
            place.comm.all_reduce(grad_weight, None, place.grid.spec.size)
        return full @ weight[lo:hi].T, grad_weight, None


class _AddBias(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, bias: Tensor, place: GridPlace) -> Tensor:
        ctx.place, ctx.width = place, bias.shape[0]
        lo, hi = place.cols(bias.shape[0])
        return x + bias[lo:hi]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        place: GridPlace = ctx.place
        lo, hi = place.cols(ctx.width)
        grad_bias = grad.new_zeros(ctx.width)
        grad_bias[lo:hi] = grad.sum(dim=0)
        with place.comm.log.phase("dense_transform"):
            place.comm.all_reduce(grad_bias, None, place.grid.spec.size)
        return grad, grad_bias, None


class _Scale(torch.autograd.Function):
    """``x * factor``; the factor's gradient is summed over the whole grid (every process
    holds a distinct block)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, factor: Tensor, place: GridPlace) -> Tensor:
        ctx.save_for_backward(x, factor)
        ctx.place = place
        return x * factor

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        x, factor = ctx.saved_tensors
        place: GridPlace = ctx.place
        grad_factor = (grad * x).sum().reshape(factor.shape)
        with place.comm.log.phase("dense_transform"):
            place.comm.all_reduce(grad_factor, None, place.grid.spec.size)
        return grad * factor, grad_factor, None


class _GatherClasses(torch.autograd.Function):
    """Full class rows for the loss; backward keeps this process's own columns (every
    process of the grid row computes the same loss on the same rows)."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, place: GridPlace, width: int) -> Tensor:
        ctx.span = place.cols(width)
        return gather_columns(place, logits, width)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        lo, hi = ctx.span
        return grad[:, lo:hi].contiguous(), None, None


class GridAlgorithm:
    """The :class:`~pargnn.spmm.contract.Algorithm` of a ``Pr x Pc x Pl`` grid.

    Args:
        place: this process's place on the grid, its communicator and precision.
        at, a: its share of ``A^T`` (forward) and ``A`` (backward).
        data: its rows ``B[i, l]`` and feature columns ``F[j]`` of the vertex data.
        num_classes: width of the logits.
        global_counts: number of vertices in each split over the whole graph.
    """

    def __init__(self, place: GridPlace, at: Operator, a: Operator, data: LocalData,
                 num_classes: int, global_counts: dict[str, int]) -> None:
        self.place, self.at, self.a = place, at, a
        self._data = data
        self.num_classes = num_classes
        self.global_counts = global_counts
        self.replicas = place.layout.cols  # processes that hold the same rows

    @property
    def data(self) -> LocalData:
        return self._data

    def aggregate(self, h: Tensor) -> Tensor:
        return paired_spmm(h, partial(summa_spmm, self.place, self.at),
                           partial(summa_spmm, self.place, self.a), self.place.comm.log)

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        result: Tensor = _Transform.apply(h, weight, self.place)
        return result

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        result: Tensor = _AddBias.apply(h, bias, self.place)
        return result

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        result: Tensor = _Scale.apply(h, factor, self.place)
        return result

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        raise attention_not_distributed(self.place.grid.spec.algorithm)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        raise attention_not_distributed(self.place.grid.spec.algorithm)

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        lo, hi = self.place.cols(width)
        columns = torch.arange(lo, hi, device=h.device)
        return keyed_dropout(h, p, key, self._data.row_ids, columns)

    def at_blocks(self) -> list[SparseBlock]:
        """The blocks of ``A^T`` this process stores."""
        return list(self.at.owned.values())

    def stored_bytes(self) -> int:
        """Bytes of the graph this process holds: its sparse blocks and its vertex data."""
        blocks = list(self.at.owned.values()) + list(self.a.owned.values())
        return sum(tensor_bytes(b.indices, b.values) for b in blocks) + local_data_bytes(
            self._data)

    def class_columns(self, width: int) -> tuple[int, int]:
        """The global column range of a ``width``-wide matrix that this process holds."""
        return self.place.cols(width)

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        with self.place.comm.log.phase("loss"):
            full: Tensor = _GatherClasses.apply(logits, self.place, self.num_classes)
            total = self.global_counts[split_of(self._data, mask)]
            local = F.cross_entropy(full[mask], self._data.labels[mask], reduction="sum") / total
            value = local.detach().reshape(1).clone()
            self.place.comm.all_reduce(value, None, self.place.grid.spec.size)
            return local + (value[0] / self.replicas - local).detach()

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        with self.place.comm.log.phase("loss"):
            full = gather_columns(self.place, logits, self.num_classes)
            correct = (full[mask].argmax(dim=1) == self._data.labels[mask]).sum()
            counts = torch.stack([correct, mask.sum()]).to(torch.int64)
            self.place.comm.all_reduce(counts, None, self.place.grid.spec.size)
        correct_all, total_all = (int(c) // self.replicas for c in counts.tolist())
        return Counts(correct=correct_all, total=total_all)


def attention_not_distributed(algorithm: str) -> ConfigError:
    return ConfigError(
        f"--model gat does not run on --algo {algorithm} yet (graph attention is single-process "
        "for now); use --nprocs 1, or --model gcn, sage or gin"
    )


def global_split_counts(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> dict[str, int]:
    return {"train": int(train.sum()), "val": int(val.sum()), "test": int(test.sum())}
