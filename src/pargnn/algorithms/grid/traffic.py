"""The exact communication model of the grid family (1D, 2D, 3D): one rank's calls.

Each function mirrors, call by call, what :mod:`pargnn.algorithms.grid.summa`,
:mod:`pargnn.algorithms.grid.dense` and :mod:`pargnn.algorithms.grid.attention` send, in the
counting convention of :mod:`pargnn.dist.comm`. A layer's steps come from
:mod:`pargnn.cost.steps`; the backward pass runs them in reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pargnn.cost.blocks import BlockCounts, Matrix, as_index, count_blocks
from pargnn.cost.problem import PartHalos, Problem
from pargnn.cost.steps import (
    AGGREGATE,
    ATTEND,
    HEAD_SCORES,
    TRANSFORM,
    Op,
    Steps,
    flat,
    gradient_words,
)
from pargnn.cost.traffic import COUNT_BYTES, Traffic, selected_ranks
from pargnn.cost.traffic import index_bytes as traffic_index_bytes
from pargnn.dist import phases
from pargnn.dist.phases import (
    BACKWARD_AGGREGATION,
    DENSE_TRANSFORM,
    FORWARD_AGGREGATION,
    LOSS,
    attention,
)
from pargnn.layout.offsets import GridLayout
from pargnn.layout.spec import GridSpec


@dataclass(frozen=True)
class GridRank:
    """One rank of a ``Pr x Pc x Pl`` grid and the sizes its collectives depend on."""

    layout: GridLayout
    i: int
    j: int
    layer: int
    counts: BlockCounts
    value_bytes: int
    index_bytes: int


def grid_place(spec: GridSpec, n: int, rank: int) -> tuple[GridLayout, int, int, int]:
    """The grid's layout and ``rank``'s coordinates ``(i, j, layer)`` in it."""
    rows, cols, layers = spec.shape
    i, rest = divmod(rank, cols * layers)
    j, layer = divmod(rest, layers)
    return GridLayout(n, rows, cols, layers), i, j, layer


def grid_rank(spec: GridSpec, n: int, at: Matrix, a: Matrix, rank: int,
              value_bytes: int) -> GridRank:
    layout, i, j, layer = grid_place(spec, n, rank)
    blocks = [layout.block(s, layer) for s in range(layout.rows)]
    counts = count_blocks(at, a, layout.grid_row(i), blocks)
    index_bytes = traffic_index_bytes(n, as_index(at).nnz)
    return GridRank(layout, i, j, layer, counts, value_bytes, index_bytes)


def _cols(r: GridRank, width: int) -> int:
    lo, hi = r.layout.features(width, r.j)
    return hi - lo


def grid_spmm(t: Traffic, r: GridRank, width: int, nnz: tuple[int, ...], phase: str) -> None:
    lay = r.layout
    v_lo, v_hi = lay.grid_row(r.i)
    w = _cols(r, width)
    for s in range(lay.rows):
        if lay.cols > 1:
            t.add(phase, (v_hi - v_lo + 1 + nnz[s]) * r.index_bytes, "broadcast", lay.cols)
            t.add(phase, nnz[s] * r.value_bytes, "broadcast", lay.cols)
        if lay.rows > 1:
            t.add(phase, lay.block_size(s, r.layer) * w * r.value_bytes, "broadcast", lay.rows)
    if lay.layers > 1:
        t.add(phase, (lay.layers - 1) * lay.max_block() * w * r.value_bytes, "reduce_scatter",
              lay.layers)


def grid_transform(t: Traffic, r: GridRank, op: Op, backward: bool, world: int) -> None:
    lay = r.layout
    rows = lay.block_size(r.i, r.layer)
    if lay.cols > 1:  # reduce-scatter forward, all-gather backward
        t.add(DENSE_TRANSFORM, (lay.cols - 1) * lay.max_features(op.f_out) * rows * r.value_bytes,
              "all_gather" if backward else "reduce_scatter", lay.cols)
    if backward and world > 1:
        t.add(DENSE_TRANSFORM, gradient_words(op) * r.value_bytes, "all_reduce", world)


def grid_class_gather(t: Traffic, r: GridRank, classes: int) -> None:
    lay = r.layout
    if lay.cols > 1:
        rows = lay.block_size(r.i, r.layer)
        t.add(LOSS, (lay.cols - 1) * lay.max_features(classes) * rows * r.value_bytes,
              "all_gather", lay.cols)


def grid_head_scores(t: Traffic, r: GridRank, op: Op, backward: bool, world: int) -> None:
    """Partial dot products all-reduced along the grid row (both ways); the attention
    vector's gradient all-reduced over the grid."""
    rows = r.layout.block_size(r.i, r.layer)
    phase = attention(backward)
    if r.layout.cols > 1:
        t.add(phase, rows * op.heads * r.value_bytes, "all_reduce", r.layout.cols)
    if backward and world > 1:
        t.add(phase, op.width * r.value_bytes, "all_reduce", world)


def grid_attend(t: Traffic, r: GridRank, op: Op, backward: bool) -> None:
    """Scores gathered, the softmax's max and sum over the grid row's processes, and the
    SUMMA with ``(nnz, K)`` weights (see :mod:`pargnn.algorithms.grid.attention`)."""
    lay, vb, k = r.layout, r.value_bytes, op.heads
    v_lo, v_hi = lay.grid_row(r.i)
    rows_v = v_hi - v_lo
    w = _cols(r, op.width)
    slab_pad = max(lay.block_size(s, r.layer) for s in range(lay.rows))
    row_pad = max(lay.block_size(r.i, m) for m in range(lay.layers))
    peers = lay.cols * lay.layers > 1
    phase = attention(backward)
    gather = "reduce_scatter" if backward else "all_gather"
    if lay.rows > 1:  # source scores: all-gather forward, reduce-scatter backward
        t.add(phase, (lay.rows - 1) * slab_pad * k * vb, gather, lay.rows)
    if lay.layers > 1:  # destination scores, likewise across the layers
        t.add(phase, (lay.layers - 1) * row_pad * k * vb, gather, lay.layers)
    if peers:  # forward: the max and the sum; backward: sum of alpha * dalpha
        for _ in range(1 if backward else 2):
            t.add(phase, rows_v * k * vb, "all_reduce", lay.cols * lay.layers)
    aggregation = phases.aggregation(backward)
    if backward and lay.layers > 1:  # dZ gathered across the layers
        t.add(aggregation, (lay.layers - 1) * row_pad * w * vb, "all_gather", lay.layers)
    for s in range(lay.rows):
        nnz = r.counts.forward[s]
        if lay.cols > 1:
            t.add(aggregation, (rows_v + 1 + nnz) * r.index_bytes, "broadcast", lay.cols)
            t.add(aggregation, nnz * k * vb, "broadcast", lay.cols)
        if lay.rows > 1:
            t.add(aggregation, lay.block_size(s, r.layer) * w * vb, "broadcast", lay.rows)
        if backward and lay.cols > 1:  # dalpha reduced to the block's owner
            t.add(aggregation, nnz * k * vb, "reduce", lay.cols)
        if backward and lay.rows > 1:  # dG reduced to (s, j, l)
            t.add(aggregation, lay.block_size(s, r.layer) * w * vb, "reduce", lay.rows)
    if not backward and lay.layers > 1:
        t.add(aggregation, (lay.layers - 1) * lay.max_block() * w * vb, "reduce_scatter",
              lay.layers)


def grid_op(t: Traffic, r: GridRank, op: Op, backward: bool, world: int) -> None:
    if op.kind == HEAD_SCORES:
        grid_head_scores(t, r, op, backward, world)
    elif op.kind == ATTEND:
        grid_attend(t, r, op, backward)
    elif op.kind == AGGREGATE:
        if not backward:
            grid_spmm(t, r, op.width, r.counts.forward, FORWARD_AGGREGATION)
        elif op.input_needs_grad:
            grid_spmm(t, r, op.width, r.counts.backward, BACKWARD_AGGREGATION)
    elif op.kind == TRANSFORM:
        grid_transform(t, r, op, backward, world)
    elif backward and world > 1:  # bias and scale: their gradients are all-reduced
        t.add(DENSE_TRANSFORM, gradient_words(op) * r.value_bytes, "all_reduce", world)


OpModel = Callable[[Traffic, GridRank, Op, bool, int], None]


def grid_epoch(r: GridRank, layers: Steps, classes: int, world: int,
               training: bool, op_model: OpModel = grid_op) -> Traffic:
    """One training step (``training``) or one evaluation pass of one rank."""
    t = Traffic()
    for op in flat(layers):
        op_model(t, r, op, False, world)
    if training:
        grid_class_gather(t, r, classes)
        if world > 1:
            t.add(LOSS, r.value_bytes, "all_reduce", world)
        for op in reversed(flat(layers)):
            op_model(t, r, op, True, world)
    else:
        for _ in range(3):  # train, val, test accuracy
            grid_class_gather(t, r, classes)
            if world > 1:
                t.add(LOSS, COUNT_BYTES, "all_reduce", world)
    return t


def traffic(problem: Problem, spec: GridSpec, halos: PartHalos | None,
            ranks: Sequence[int] | None, training: bool) -> list[Traffic]:
    """Per-rank traffic of one training step (or evaluation pass) on ``spec``."""
    return [grid_epoch(grid_rank(spec, problem.n, problem.at, problem.a, k, problem.value_bytes),
                       problem.layers, problem.classes, spec.size, training)
            for k in selected_ranks(spec, ranks)]
