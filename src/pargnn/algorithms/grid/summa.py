"""The SUMMA engine of CAGNET's 1D, 2D and 3D on a ``Pr x Pc x Pl`` process grid.

Layout (see :mod:`pargnn.layout.offsets`): process ``(i, j, l)`` holds rows ``B[i, l]`` and
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

:func:`gather_columns` and :func:`scatter_columns` move whole rows' columns along the grid
row, for the dense steps and the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.layout.places import GridPlace
from pargnn.ops.blocks import SparseBlock, block_nnz, index_dtype_for, sub_block


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
    return reduce_layers(place, out)


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


def reduce_layers(place: GridPlace, partial: Tensor) -> Tensor:
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
