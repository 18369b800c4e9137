"""The local work of one training step on one rank: kernel calls and their sizes.

The communication of an epoch is counted exactly by :mod:`pargnn.algorithms.exact`; this module
counts the arithmetic the same way, from the same layer steps (:class:`~pargnn.cost.steps.Op`)
and the rank's share of the graph (:class:`LocalShape`), in the units of the profile's kernels
(:mod:`pargnn.planner.profile`):

* ``spmm``: one call per sparse block product, ``nnz x w`` units (``w`` local columns);
* ``sddmm``: GAT's edge-weight gradient, ``nnz x w`` per head span;
* ``gemm``: ``m k n`` multiply-adds per dense product (forward ``X W``; backward ``dZ W^T``
  and, for a learnable weight, ``X^T dZ``);
* ``elementwise``: elements touched by bias, activation, scores, softmax, loss and the
  optimiser, with the number of passes each makes over its data;
* ``dropout``: elements masked by the keyed dropout (hash, compare, scale: its own kernel,
  because it costs several passes of integer arithmetic per element).

A rank's compute time is then ``sum_k calls_k alpha_k + units_k beta_k``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pargnn.cost.steps import (
    AGGREGATE,
    ATTEND,
    BIAS,
    HEAD_SCORES,
    SCALE,
    TRANSFORM,
    Op,
    Steps,
    flat,
)

# passes over the data of the steps that are not products (forward + backward together)
BIAS_PASSES = 2  # add; column sum of the gradient
ACTIVATION_PASSES = 3  # apply; mask and multiply the gradient
SCALE_PASSES = 4
SCORE_PASSES = 4  # multiply and index-add, both ways
EDGE_PASSES = 14  # gather, add, LeakyReLU, max, exp, sum, divide; their adjoints
LOSS_PASSES = 6  # log-softmax and its gradient over the local logits
ADAM_PASSES = 12  # Adam's update of one parameter (moments, bias corrections, step)
# a grid with several columns stacks the full-width product transposed for the
# reduce-scatter (zero, copy, transpose back); backward gathers, concatenates, transposes
COLUMN_PASSES = 3
REDUCE_PASSES = 2  # 3D: zero the padded stack of partial sums, copy them in


@dataclass
class Work:
    """Calls and units per kernel, and the calls of each size (units per call)."""

    calls: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)
    sizes: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, kernel: str, units: float, calls: int = 1) -> None:
        """``calls`` calls of ``units / calls`` units each."""
        if units > 0 and calls > 0:
            self.calls[kernel] += calls
            self.units[kernel] += int(units)
            self.sizes.setdefault(kernel, Counter())[max(int(units) // calls, 1)] += calls


@dataclass(frozen=True)
class LocalShape:
    """What one rank multiplies: its vertex rows, its share of a matrix's columns, and the
    non-zeros of each sparse block it multiplies, per call.

    ``forward_blocks`` are the blocks of ``A^T`` of the forward SpMM (one call each),
    ``backward_blocks`` those of ``A`` in the backward SpMM; ``edge_blocks`` the blocks whose
    edges this rank's attention scores (those of ``A^T`` it stores). ``reduced_rows``: on a
    3D grid, the rows of the partial sums its layers reduce-scatter (0 elsewhere).
    """

    rows: int
    columns: Callable[[int], int]
    forward_blocks: Sequence[int]
    backward_blocks: Sequence[int]
    edge_blocks: Sequence[int]
    reduced_rows: int = 0


def full_width(width: int) -> int:
    return width


def _aggregate(w: Work, shape: LocalShape, op: Op, backward: bool) -> None:
    width = shape.columns(op.width)
    if backward and not op.input_needs_grad:
        return
    for nnz in shape.backward_blocks if backward else shape.forward_blocks:
        w.add("spmm", nnz * width)
    if shape.reduced_rows:  # 3D: the padded stack of partial sums (zeroed, then filled)
        _passes(w, REDUCE_PASSES, shape.reduced_rows * width)


def _transform(w: Work, shape: LocalShape, op: Op, backward: bool) -> None:
    product = shape.rows * shape.columns(op.f_in) * op.f_out
    if not backward or op.input_needs_grad:  # forward X W; backward dZ W^T
        w.add("gemm", product)
    if backward and op.weight_grad:  # X^T dZ
        w.add("gemm", product)
    if shape.columns(op.f_out) < op.f_out:  # 2D/3D: the full-width product changes hands
        _passes(w, COLUMN_PASSES, shape.rows * op.f_out)


def _attend(w: Work, shape: LocalShape, op: Op, backward: bool) -> None:
    width = shape.columns(op.width)
    head_width = max(op.width // max(op.heads, 1), 1)
    spans = max(1, -(-width // head_width))  # the heads this rank's columns touch
    for nnz in shape.edge_blocks:
        w.add("elementwise", EDGE_PASSES // 2 * nnz * op.heads, calls=EDGE_PASSES // 2)
        w.add("spmm", nnz * width, calls=spans)
        if backward:
            w.add("sddmm", nnz * width, calls=spans)


def op_work(w: Work, shape: LocalShape, op: Op, backward: bool) -> None:
    """The kernels of one step, one direction."""
    if op.kind == AGGREGATE:
        _aggregate(w, shape, op, backward)
    elif op.kind == TRANSFORM:
        _transform(w, shape, op, backward)
    elif op.kind == ATTEND:
        _attend(w, shape, op, backward)
    elif op.kind == BIAS:
        _passes(w, BIAS_PASSES // 2, shape.rows * shape.columns(op.width))
    elif op.kind == SCALE:
        _passes(w, SCALE_PASSES // 2, shape.rows * shape.columns(op.width or 1))
    elif op.kind == HEAD_SCORES:
        _passes(w, SCORE_PASSES // 2, shape.rows * shape.columns(op.width))


def _passes(w: Work, passes: int, elements: int) -> None:
    """``passes`` elementwise kernels over ``elements`` each."""
    w.add("elementwise", passes * elements, calls=passes)


Block = TypeVar("Block")


def sparse_products(layers: list[list[Op]], forward: Sequence[Block],
                    backward: Sequence[Block], columns: Callable[[int], int]
                    ) -> list[tuple[Block, int]]:
    """The sparse products of one training step, as (block, dense width) pairs: each
    aggregation's forward blocks, and its backward blocks where autograd needs ``dH``;
    each attention's forward blocks (its weighted product: for GAT the timed products
    stand for the attention's sparse kernels). ``Block``: a count of non-zeros, or the
    block itself (:mod:`pargnn.cost.sparse_timing`)."""
    out: list[tuple[Block, int]] = []
    for op in (op for layer in layers for op in layer):
        if op.kind not in (AGGREGATE, ATTEND):
            continue
        width = columns(op.width)
        out += [(block, width) for block in forward]
        if op.kind == AGGREGATE and op.input_needs_grad:
            out += [(block, width) for block in backward]
    return out


def epoch_work(shape: LocalShape, layers: Steps, classes: int, dropout: bool,
               parameters: int, training: bool = True) -> Work:
    """The kernels of one training step (forward, loss, backward, Adam) on one rank, or
    without ``training`` of one forward pass (a model that trains nothing).

    Each layer's input is dropped out (when ``dropout``, in training) and each hidden
    layer's output goes through the activation, as :class:`~pargnn.nn.models.GraphModel`
    does.
    """
    w = Work()
    for index, layer in enumerate(layers):
        if dropout and training:
            w.add("dropout", 2 * shape.rows * shape.columns(_input_width(layer)))
        for op in layer:
            op_work(w, shape, op, False)
        if index < len(layers) - 1:
            _passes(w, ACTIVATION_PASSES, shape.rows * shape.columns(_output_width(layer)))
    if training:
        _passes(w, LOSS_PASSES, shape.rows * classes)
        for op in reversed(flat(layers)):
            op_work(w, shape, op, True)
        _passes(w, ADAM_PASSES, parameters)
    return w


def _input_width(layer: list[Op]) -> int:
    first = layer[0]
    return first.f_in if first.kind == TRANSFORM else first.width


def _output_width(layer: list[Op]) -> int:
    """The width of the layer's last step that produces its rows (a transform, an
    aggregation or attention, a bias)."""
    last = [op for op in layer if op.kind in (TRANSFORM, AGGREGATE, ATTEND, BIAS)][-1]
    return last.f_out if last.kind == TRANSFORM else last.width
