"""The exact communication model: what each rank's collectives move in one epoch.

This is not CAGNET's asymptotic table (``docs/algorithms.md`` prints that beside it) but the
count of what pargnn's code sends, call by call, in the counting convention of
:mod:`pargnn.dist.comm`: padding to equal block sizes, the index words of sparse blocks, the
scalar all-reduces of the loss, everything. The tests hold :class:`CommLog` totals equal to
these predictions to the byte, for every algorithm and grid they run.

Inputs are the grid, the sizes of the layout, the non-zero counts of the sparse blocks the
algorithm stores or receives (:class:`BlockCounts`), and the model's layers as the sequence
of communicating steps of their forward pass (:func:`model_ops`); the backward pass runs the
same steps in reverse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import scipy.sparse as sp

from pargnn.dist.grid import SPARSITY_AWARE, GridSpec
from pargnn.graph.partition import halo_matrix
from pargnn.spmm.layout import GridLayout, balanced_offsets

INDEX_BYTES = {True: 4, False: 8}  # int32 where it fits
COUNT_BYTES = 16  # two int64: correct and total


@dataclass(frozen=True)
class Op:
    """One communicating step of a layer's forward pass, in order.

    ``kind`` is ``aggregate`` (an SpMM of ``width`` columns), ``transform`` (``h W`` with a
    ``f_in x f_out`` weight), ``bias`` (``width`` wide), ``scale`` (a learnable scalar),
    ``head_scores`` (per-head dot products of a ``width``-wide matrix with a ``heads x
    width / heads`` attention vector) or ``attend`` (graph attention over ``heads`` heads of a
    ``width``-wide matrix). ``input_needs_grad`` is false only for a step of the first layer whose
    input is the raw features or their aggregation (no ``dX`` product or halo exchange);
    ``weight_grad`` is false for a transform by a fixed matrix.
    """

    kind: str
    width: int = 0
    f_in: int = 0
    f_out: int = 0
    input_needs_grad: bool = True
    heads: int = 1
    weight_grad: bool = True


def layer_ops(layer: object, first: bool) -> list[Op]:
    """The forward steps of a GCN, GAT, SAGE or GIN layer (see :mod:`pargnn.nn`)."""
    kind = type(layer).__name__
    f_in, f_out = int(layer.in_features), int(layer.out_features)  # type: ignore[attr-defined]
    bias = getattr(layer, "bias", None) is not None or getattr(layer, "bias1", None) is not None
    if kind == "GATConv":
        return gat_ops(layer, f_in, f_out, bias, first)
    if kind == "GINConv":
        ops = [Op("aggregate", f_in, input_needs_grad=not first), Op("scale"),
               Op("transform", f_in=f_in, f_out=f_out)]
        ops += [Op("bias", f_out)] if bias else []
        ops += [Op("transform", f_in=f_out, f_out=f_out)]
        return ops + ([Op("bias", f_out)] if bias else [])
    transforms_first = bool(layer.transforms_first)  # type: ignore[attr-defined]
    # the first layer's input is the features (or their aggregation): no gradient
    neigh = Op("transform", f_in=f_in, f_out=f_out, input_needs_grad=not first)
    if transforms_first:
        ops = [neigh, Op("aggregate", f_out)]
    else:
        ops = [Op("aggregate", f_in, input_needs_grad=not first), neigh]
    if kind == "SAGEConv":
        ops.append(Op("transform", f_in=f_in, f_out=f_out, input_needs_grad=not first))
    elif kind != "GCNConv":
        raise ValueError(f"no communication model for {kind} yet")
    return ops + ([Op("bias", f_out)] if bias else [])


def gat_ops(layer: object, f_in: int, f_out: int, bias: bool, first: bool) -> list[Op]:
    heads = int(layer.heads)  # type: ignore[attr-defined]
    width = heads * int(layer.head_width)  # type: ignore[attr-defined]
    ops = [Op("transform", f_in=f_in, f_out=width, input_needs_grad=not first),
           Op("head_scores", width, heads=heads),
           Op("head_scores", width, heads=heads), Op("attend", width, heads=heads)]
    if not layer.concat and heads > 1:  # type: ignore[attr-defined]
        ops.append(Op("transform", f_in=width, f_out=f_out, weight_grad=False))
    if getattr(layer, "residual", None) is not None:
        ops.append(Op("transform", f_in=f_in, f_out=f_out, input_needs_grad=not first))
    return ops + ([Op("bias", f_out)] if bias else [])


def model_ops(layers: list[object]) -> list[list[Op]]:
    return [layer_ops(layer, index == 0) for index, layer in enumerate(layers)]


Call = tuple[str, str, int]  # (phase, collective, group size)


@dataclass
class Traffic:
    """Predicted calls and bytes of one rank, per phase and per (phase, collective, group
    size), as :class:`~pargnn.dist.comm.CommLog` records them."""

    calls: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    call_counts: Counter[Call] = field(default_factory=Counter)
    call_bytes: Counter[Call] = field(default_factory=Counter)

    def add(self, phase: str, nbytes: int, op: str, group: int) -> None:
        """One call of ``op`` over ``group`` processes, unless it has nothing to move (the
        communicator skips those)."""
        if nbytes > 0:
            self.add_call(phase, nbytes, op, group)

    def add_call(self, phase: str, nbytes: int, op: str, group: int) -> None:
        """A call made even when this rank sends nothing (an all-to-all)."""
        self.calls[phase] += 1
        self.bytes[phase] += nbytes
        self.call_counts[(phase, op, group)] += 1
        self.call_bytes[(phase, op, group)] += nbytes

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True)
class BlockCounts:
    """Non-zeros of the blocks ``S[rows, B_s]`` of ``A^T`` (forward) and ``A`` (backward)."""

    forward: tuple[int, ...]
    backward: tuple[int, ...]


class CumulativeCounts(Protocol):
    """``counts[c]``: non-zeros of a row range in columns ``[0, c)``."""

    def __getitem__(self, column: int, /) -> int | np.integer: ...


@runtime_checkable
class BlockCounter(Protocol):
    """What the model asks of a matrix: its non-zeros and, for any row range, the cumulative
    non-zeros per column. :class:`BlockIndex` counts them in a CSR matrix;
    :class:`~pargnn.cost.statistics.UniformBlocks` estimates them from statistics alone."""

    @property
    def nnz(self) -> int: ...

    def cumulative(self, lo: int, hi: int) -> CumulativeCounts: ...


class BlockIndex:
    """Non-zeros of the blocks of one CSR matrix for any split of its rows and columns.

    For each row range it is asked about, it keeps the cumulative count of non-zeros per
    column (one pass over the range's non-zeros, ``n + 1`` integers); any block of that range
    is then a difference of two entries. The planner asks for many grids, whose row ranges
    repeat, so each range is counted once.
    """

    def __init__(self, matrix: sp.csr_array) -> None:
        self.matrix = matrix
        self._cumulative: dict[tuple[int, int], np.ndarray] = {}

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def cumulative(self, lo: int, hi: int) -> np.ndarray:
        """``out[c]``: non-zeros of rows ``[lo, hi)`` in columns ``[0, c)``."""
        known = self._cumulative.get((lo, hi))
        if known is None:
            m = self.matrix
            counts = np.bincount(m.indices[m.indptr[lo]:m.indptr[hi]], minlength=m.shape[1])
            dtype = np.int32 if m.nnz < 2**31 else np.int64
            known = np.concatenate([[0], np.cumsum(counts, dtype=dtype)])
            self._cumulative[(lo, hi)] = known
        return known


Matrix: TypeAlias = "sp.csr_array | BlockCounter"


def as_index(matrix: Matrix) -> BlockCounter:
    # BlockIndex first: the common case, without the slower protocol check
    return matrix if isinstance(matrix, BlockIndex | BlockCounter) else BlockIndex(matrix)


def matrix_of(matrix: Matrix) -> sp.csr_array:
    """The CSR matrix itself, for the counts that need its pattern (the halo of a partition);
    a :class:`BlockCounter` that only estimates counts has none."""
    if isinstance(matrix, BlockIndex):
        return matrix.matrix
    if isinstance(matrix, BlockCounter):
        raise ValueError(f"{type(matrix).__name__} has no matrix to count halos in; pass the "
                         "halo matrix instead")
    return matrix


def selected_ranks(spec: GridSpec, ranks: Sequence[int] | None) -> Sequence[int]:
    """The ranks to predict: all of ``spec``'s (``None``) or the given ones."""
    return range(spec.size) if ranks is None else ranks


def _bounds(offsets: np.ndarray | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(o) for o in offsets)


def count_blocks(at: Matrix, a: Matrix, rows: tuple[int, int],
                 blocks: list[tuple[int, int]]) -> BlockCounts:
    """Counts of ``S[rows, b]`` for column ranges ``b`` (not necessarily adjacent: a 3D
    layer's blocks interleave with the other layers')."""
    fwd, bwd = (tuple(int(cum[hi] - cum[lo]) for lo, hi in blocks)
                for cum in (as_index(m).cumulative(*rows) for m in (at, a)))
    return BlockCounts(fwd, bwd)


# -- 1D, 2D, 3D ---------------------------------------------------------------------------------
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
    index_bytes = INDEX_BYTES[max(n, as_index(at).nnz) < 2**31]
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
        t.add("dense_transform", (lay.cols - 1) * lay.max_features(op.f_out) * rows * r.value_bytes,
              "all_gather" if backward else "reduce_scatter", lay.cols)
    if backward and world > 1 and op.weight_grad:
        t.add("dense_transform", op.f_in * op.f_out * r.value_bytes, "all_reduce", world)


def grid_class_gather(t: Traffic, r: GridRank, classes: int) -> None:
    lay = r.layout
    if lay.cols > 1:
        rows = lay.block_size(r.i, r.layer)
        t.add("loss", (lay.cols - 1) * lay.max_features(classes) * rows * r.value_bytes,
              "all_gather", lay.cols)


FORWARD_ATTENTION, BACKWARD_ATTENTION = "forward_attention", "backward_attention"


def grid_head_scores(t: Traffic, r: GridRank, op: Op, backward: bool, world: int) -> None:
    """Partial dot products all-reduced along the grid row (both ways); the attention
    vector's gradient all-reduced over the grid."""
    rows = r.layout.block_size(r.i, r.layer)
    phase = BACKWARD_ATTENTION if backward else FORWARD_ATTENTION
    if r.layout.cols > 1:
        t.add(phase, rows * op.heads * r.value_bytes, "all_reduce", r.layout.cols)
    if backward and world > 1:
        t.add(phase, op.width * r.value_bytes, "all_reduce", world)


def grid_attend(t: Traffic, r: GridRank, op: Op, backward: bool) -> None:
    """Scores gathered, the softmax's max and sum over the grid row's processes, and the
    SUMMA with ``(nnz, K)`` weights (see :mod:`pargnn.spmm.grid_attention`)."""
    lay, vb, k = r.layout, r.value_bytes, op.heads
    v_lo, v_hi = lay.grid_row(r.i)
    rows_v = v_hi - v_lo
    w = _cols(r, op.width)
    slab_pad = max(lay.block_size(s, r.layer) for s in range(lay.rows))
    row_pad = max(lay.block_size(r.i, m) for m in range(lay.layers))
    peers = lay.cols * lay.layers > 1
    phase = BACKWARD_ATTENTION if backward else FORWARD_ATTENTION
    gather = "reduce_scatter" if backward else "all_gather"
    if lay.rows > 1:  # source scores: all-gather forward, reduce-scatter backward
        t.add(phase, (lay.rows - 1) * slab_pad * k * vb, gather, lay.rows)
    if lay.layers > 1:  # destination scores, likewise across the layers
        t.add(phase, (lay.layers - 1) * row_pad * k * vb, gather, lay.layers)
    if peers:  # forward: the max and the sum; backward: sum of alpha * dalpha
        for _ in range(1 if backward else 2):
            t.add(phase, rows_v * k * vb, "all_reduce", lay.cols * lay.layers)
    aggregation = "backward_aggregation" if backward else "forward_aggregation"
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
    if op.kind == "head_scores":
        grid_head_scores(t, r, op, backward, world)
    elif op.kind == "attend":
        grid_attend(t, r, op, backward)
    elif op.kind == "aggregate":
        if not backward:
            grid_spmm(t, r, op.width, r.counts.forward, "forward_aggregation")
        elif op.input_needs_grad:
            grid_spmm(t, r, op.width, r.counts.backward, "backward_aggregation")
    elif op.kind == "transform":
        grid_transform(t, r, op, backward, world)
    elif backward and world > 1:  # bias and scale: their gradients are all-reduced
        t.add("dense_transform", (op.width if op.kind == "bias" else 1) * r.value_bytes,
              "all_reduce", world)


OpModel = Callable[[Traffic, GridRank, Op, bool, int], None]


def grid_epoch(r: GridRank, layers: list[list[Op]], classes: int, world: int,
               training: bool, op_model: OpModel = grid_op) -> Traffic:
    """One training step (``training``) or one evaluation pass of one rank."""
    t = Traffic()
    for op in (op for layer in layers for op in layer):
        op_model(t, r, op, False, world)
    if training:
        grid_class_gather(t, r, classes)
        if world > 1:
            t.add("loss", r.value_bytes, "all_reduce", world)
        for op in reversed([op for layer in layers for op in layer]):
            op_model(t, r, op, True, world)
    else:
        for _ in range(3):  # train, val, test accuracy
            grid_class_gather(t, r, classes)
            if world > 1:
                t.add("loss", COUNT_BYTES, "all_reduce", world)
    return t


# -- sparsity-aware 1D --------------------------------------------------------------------------
@dataclass(frozen=True)
class HaloCounts:
    """Rows rank ``i`` sends (to all others together) and receives, from ``halo_matrix``."""

    sent: int
    received: int
    active: bool


def sparsity_aware_op(halo: HaloCounts) -> OpModel:
    """The op model of sa1d: halo all-to-alls for aggregation and attention, 1D otherwise."""

    def model(t: Traffic, r: GridRank, op: Op, backward: bool, world: int) -> None:
        rows = halo.received if backward else halo.sent  # backward returns the halo's gradient
        if op.kind == "aggregate":
            if halo.active and (not backward or op.input_needs_grad):
                phase = "backward_aggregation" if backward else "forward_aggregation"
                t.add_call(phase, rows * op.width * r.value_bytes, "all_to_all", world)
        elif op.kind == "attend":  # features and source scores travel together
            if halo.active:
                phase = BACKWARD_ATTENTION if backward else FORWARD_ATTENTION
                t.add_call(phase, rows * (op.width + op.heads) * r.value_bytes, "all_to_all", world)
        else:
            grid_op(t, r, op, backward, world)

    return model


def sparsity_aware_epochs(spec: GridSpec, n: int, need: np.ndarray, offsets: np.ndarray,
                          layers: list[list[Op]], classes: int, value_bytes: int,
                          training: bool, ranks: Sequence[int] | None = None) -> list[Traffic]:
    """Traffic of sa1d's ``ranks`` (default: all), from the partition's :func:`halo_matrix`."""
    active = bool(need.sum() > 0)
    layout = GridLayout(n, spec.size, 1, 1, offsets=_bounds(offsets))
    out = []
    for rank in selected_ranks(spec, ranks):
        r = GridRank(layout, rank, 0, 0, BlockCounts((), ()), value_bytes, INDEX_BYTES[True])
        halo = HaloCounts(int(need[:, rank].sum()), int(need[rank].sum()), active)
        out.append(grid_epoch(r, layers, classes, spec.size, training, sparsity_aware_op(halo)))
    return out


# -- 1.5D ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicatedRank:
    n: int
    teams: int
    replication: int
    i: int
    r: int
    counts: BlockCounts  # indexed by position in stages()
    value_bytes: int
    offsets: tuple[int, ...] | None = None  # block rows; None: balanced

    def block(self, b: int) -> int:
        off = balanced_offsets(self.n, self.teams) if self.offsets is None else self.offsets
        return int(off[b + 1] - off[b])

    def stages(self) -> range:
        off = balanced_offsets(self.teams, self.replication)
        return range(int(off[self.r]), int(off[self.r + 1]))


def team_place(spec: GridSpec, n: int, rank: int, value_bytes: int) -> ReplicatedRank:
    """``rank``'s team and stages in the 1.5D layout, without its blocks' counts."""
    teams, c = spec.shape
    i, r = divmod(rank, c)
    return ReplicatedRank(n, teams, c, i, r, BlockCounts((), ()), value_bytes)


def replicated_rank(spec: GridSpec, n: int, at: Matrix, a: Matrix, rank: int,
                    value_bytes: int) -> ReplicatedRank:
    probe = team_place(spec, n, rank, value_bytes)
    offsets = balanced_offsets(n, probe.teams)
    rows = (int(offsets[probe.i]), int(offsets[probe.i + 1]))
    blocks = [(int(offsets[s]), int(offsets[s + 1])) for s in probe.stages()]
    return replace(probe, counts=count_blocks(at, a, rows, blocks))


def replicated_spmm(t: Traffic, r: ReplicatedRank, width: int, phase: str) -> None:
    for s in r.stages():
        if r.teams > 1:
            t.add(phase, r.block(s) * width * r.value_bytes, "broadcast", r.teams)
    if r.replication > 1:
        t.add(phase, r.block(r.i) * width * r.value_bytes, "all_reduce", r.replication)


def replicated_attend(t: Traffic, r: ReplicatedRank, op: Op, backward: bool) -> None:
    """As :func:`grid_attend` in the 1.5D layout (see :mod:`pargnn.spmm.replicated_attention`)."""
    vb, k, rows = r.value_bytes, op.heads, r.block(r.i)
    pad = max(r.block(b) for b in range(r.teams))
    phase = BACKWARD_ATTENTION if backward else FORWARD_ATTENTION
    gather = "reduce_scatter" if backward else "all_gather"
    if r.teams > 1:  # source scores: all-gather forward, reduce-scatter backward
        t.add(phase, (r.teams - 1) * pad * k * vb, gather, r.teams)
    if r.replication > 1:
        for _ in range(1 if backward else 2):
            t.add(phase, rows * k * vb, "all_reduce", r.replication)
    aggregation = "backward_aggregation" if backward else "forward_aggregation"
    for s in r.stages():
        if r.teams > 1:
            t.add(aggregation, r.block(s) * op.width * vb, "broadcast", r.teams)
        if backward and r.teams > 1:  # dG reduced to (s, r)
            t.add(aggregation, r.block(s) * op.width * vb, "reduce", r.teams)
    if r.replication > 1:
        t.add(aggregation, rows * op.width * vb, "all_reduce", r.replication)


def replicated_op(t: Traffic, r: ReplicatedRank, op: Op, backward: bool) -> None:
    team = r.teams > 1
    if op.kind == "head_scores":  # local; gradients summed over the replicas and the team
        if backward and r.replication > 1:
            t.add(BACKWARD_ATTENTION, r.block(r.i) * op.heads * r.value_bytes, "all_reduce",
                  r.replication)
        if backward and team:
            t.add(BACKWARD_ATTENTION, op.width * r.value_bytes, "all_reduce", r.teams)
    elif op.kind == "attend":
        replicated_attend(t, r, op, backward)
    elif op.kind == "aggregate":
        if not backward:
            replicated_spmm(t, r, op.width, "forward_aggregation")
        elif op.input_needs_grad:
            replicated_spmm(t, r, op.width, "backward_aggregation")
    elif backward and team and op.weight_grad:
        size = {"transform": op.f_in * op.f_out, "bias": op.width, "scale": 1}[op.kind]
        t.add("dense_transform", size * r.value_bytes, "all_reduce", r.teams)


ReplicatedOpModel = Callable[[Traffic, ReplicatedRank, Op, bool], None]


def replicated_epoch(r: ReplicatedRank, layers: list[list[Op]], training: bool,
                     op_model: ReplicatedOpModel = replicated_op) -> Traffic:
    t = Traffic()
    ops = [op for layer in layers for op in layer]
    for op in ops:
        op_model(t, r, op, False)
    if not training:
        for _ in range(3):
            if r.teams > 1:
                t.add("loss", COUNT_BYTES, "all_reduce", r.teams)
        return t
    if r.teams > 1:
        t.add("loss", r.value_bytes, "all_reduce", r.teams)
    for op in reversed(ops):
        op_model(t, r, op, True)
    return t


# -- sparsity-aware 1.5D ------------------------------------------------------------------------
def sparsity_aware_replicated_op(halo: HaloCounts) -> ReplicatedOpModel:
    """The op model of sa1.5d: the team's halo all-to-all and the replicas' all-reduce for
    aggregation and attention (see :mod:`pargnn.spmm.sparsity_aware_replicated`), 1.5D
    otherwise."""

    def model(t: Traffic, r: ReplicatedRank, op: Op, backward: bool) -> None:
        vb, own = r.value_bytes, r.block(r.i)
        rows = halo.received if backward else halo.sent  # backward returns the halo's gradient
        replicas = r.replication > 1
        aggregation = "backward_aggregation" if backward else "forward_aggregation"
        if op.kind == "aggregate":
            if backward and not op.input_needs_grad:
                return
            if halo.active:
                t.add_call(aggregation, rows * op.width * vb, "all_to_all", r.teams)
            if replicas:
                t.add(aggregation, own * op.width * vb, "all_reduce", r.replication)
        elif op.kind == "attend":  # features and source scores travel together
            attention = BACKWARD_ATTENTION if backward else FORWARD_ATTENTION
            if halo.active:
                t.add_call(attention, rows * (op.width + op.heads) * vb, "all_to_all", r.teams)
            if replicas:  # softmax: max and sum forward, sum of alpha * dalpha backward
                for _ in range(1 if backward else 2):
                    t.add(attention, own * op.heads * vb, "all_reduce", r.replication)
                t.add(aggregation, own * op.width * vb, "all_reduce", r.replication)
        else:
            replicated_op(t, r, op, backward)

    return model


def replicated_halo_counts(need: np.ndarray, i: int, stages: range) -> HaloCounts:
    """Rows ``(i, r)`` sends and receives within its team, from the team's ``halo_matrix``:
    it receives from the parts of its stages, and sends only if ``i`` is one of them."""
    parts = list(stages)
    sent = int(need[:, i].sum()) if i in stages else 0
    return HaloCounts(sent, int(need[i, parts].sum()), bool(need[:, parts].sum() > 0))


def sparsity_aware_replicated_epochs(spec: GridSpec, n: int, need: np.ndarray,
                                     offsets: np.ndarray, layers: list[list[Op]],
                                     value_bytes: int, training: bool,
                                     ranks: Sequence[int] | None = None) -> list[Traffic]:
    """Traffic of sa1.5d's ``ranks`` (default: all), from the :func:`halo_matrix` of its
    ``P / c`` parts."""
    teams, c = spec.shape
    bounds = _bounds(offsets)
    out = []
    for rank in selected_ranks(spec, ranks):
        i, r = divmod(rank, c)
        place = ReplicatedRank(n, teams, c, i, r, BlockCounts((), ()), value_bytes, bounds)
        halo = replicated_halo_counts(need, i, place.stages())
        out.append(replicated_epoch(place, layers, training,
                                    sparsity_aware_replicated_op(halo)))
    return out


def predict_epoch(spec: GridSpec, n: int, at: Matrix, a: Matrix, layers: list[list[Op]],
                  classes: int, value_bytes: int, training: bool = True,
                  offsets: np.ndarray | None = None, need: np.ndarray | None = None,
                  ranks: Sequence[int] | None = None) -> list[Traffic]:
    """Per-rank traffic of one training step (or one evaluation pass) for ``spec``, for
    each of ``ranks`` in order (default: every rank).

    For the sparsity-aware algorithms ``offsets`` are the partition's part offsets, and
    either ``at`` is in partition order or ``need`` is the partition's :func:`halo_matrix`
    (:func:`~pargnn.graph.partition.part_matrices` gives it for any order).
    """
    world = spec.size
    chosen = selected_ranks(spec, ranks)
    if spec.algorithm in SPARSITY_AWARE:
        if offsets is None:
            raise ValueError(f"{spec.algorithm} needs the partition's offsets")
        if need is None:
            need = halo_matrix(matrix_of(at), offsets)
        if spec.algorithm == "sa1d":
            return sparsity_aware_epochs(spec, n, need, offsets, layers, classes, value_bytes,
                                         training, chosen)
        return sparsity_aware_replicated_epochs(spec, n, need, offsets, layers, value_bytes,
                                                training, chosen)
    if spec.algorithm == "1.5d":
        return [replicated_epoch(replicated_rank(spec, n, at, a, k, value_bytes), layers,
                                 training) for k in chosen]
    return [grid_epoch(grid_rank(spec, n, at, a, k, value_bytes), layers, classes, world,
                       training) for k in chosen]


def as_array(traffic: list[Traffic]) -> np.ndarray:
    """Bytes per rank, for plots and tables."""
    return np.array([t.total_bytes for t in traffic], dtype=np.int64)
