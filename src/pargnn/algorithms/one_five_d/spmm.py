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

import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.layout.places import ReplicatedPlace
from pargnn.ops.blocks import SparseBlock, sub_block


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
