"""Peak memory of one rank's training state, predicted from what it stores and computes.

The training state is every tensor a rank holds to train, beyond the runtime itself (the
Python interpreter, torch and the process group):

* **graph**: its sparse blocks of ``A^T`` and ``A`` (CSR: row pointer, column indices,
  values), or for the sparsity-aware algorithms its compact block in both orientations and
  the halo's send list;
* **vertex data**: its rows of the features (its columns on a 2D/3D grid), labels, masks and
  ids;
* **model**: every parameter four times (value, gradient, Adam's two moments);
* **activations**: what autograd keeps from the forward pass for the backward pass: the
  dropped input of each layer (and its scaled mask, when the input needs a gradient), the
  activation's output, the logits; GAT adds its edge weights (``nnz x K``, several copies);
* **transient**: how far above the kept activations the step goes at its highest point.
  The forward pass is followed step by step: each step allocates its output while its
  input is alive, plus its workspace (:class:`Buffers`): the received dense and sparse
  blocks and the partial sums of an aggregation, the full-width partial product of a
  transform on a grid with several columns, the masks of dropout. The backward pass runs
  the same steps in reverse with the gradients in place of the outputs.

``benchmarks/planner`` compares the total with the training state measured in tensor bytes
(``pargnn train --trace-memory``: the storages alive when a step starts plus the peak the
profiler records during it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from pargnn.cost.compute import LocalShape
from pargnn.cost.steps import AGGREGATE, ATTEND, BIAS, HEAD_SCORES, SCALE, TRANSFORM, Op

LABEL_BYTES, MASK_BYTES, ID_BYTES = 8, 1, 8  # int64 labels, bool masks, int64 ids
ADAM_COPIES = 4  # value, gradient, two moments
WIDENED_INDEX_BYTES = 8  # a 64-bit copy of a block's column indices (see Buffers)
EDGE_COPIES = 5  # raw scores, softmax, dropped weights, dropout mask, their gradient


@dataclass(frozen=True)
class Memory:
    """Predicted bytes of one rank, by part."""

    graph: int
    vertex_data: int
    model: int
    activations: int
    transient: int

    @property
    def total(self) -> int:
        return self.graph + self.vertex_data + self.model + self.activations + self.transient

    def as_dict(self) -> dict[str, int]:
        return {"graph": self.graph, "vertex_data": self.vertex_data, "model": self.model,
                "activations": self.activations, "transient": self.transient,
                "total": self.total}


def csr_bytes(rows: int, nnz: int, index_bytes: int, value_bytes: int) -> int:
    return (rows + 1 + nnz) * index_bytes + nnz * value_bytes


@dataclass(frozen=True)
class Buffers:
    """The workspace of one rank's collectives, by the rows of what it receives and sums."""

    received_rows: int
    """The largest dense block received in one stage of an aggregation (the halo and the
    local rows together for the sparsity-aware algorithms)."""
    partial_rows: int
    """Rows of an aggregation's partial sum (a grid row's rows on a 3D grid, whose layers
    reduce-scatter it)."""
    received_sparse: int = 0
    """Bytes of the largest sparse block received (2D/3D broadcast their sparse blocks)."""
    layers: int = 1
    """The processes that reduce the partial sum."""
    column_groups: int = 1
    """Processes that share a row's feature columns (2D/3D), which makes a dense
    transform's product full-width before its reduce-scatter."""
    staged: bool = True
    """The blocks arrive in stages, and a stage's buffer is allocated while the previous one
    is still referenced (the broadcast algorithms), where the sparsity-aware ones receive
    once."""
    exchange_rows: int = 0
    """Rows of an all-to-all's receive buffer (the sparsity-aware algorithms: its halo),
    alive while the concatenated block is built."""
    widened_indices: bool = True
    """Each stage's product holds a 64-bit copy of the block's 32-bit column indices. The
    traced peaks of the broadcast algorithms (1D, 2D on R-MAT) show it; those of sa1d and
    sa1.5d (R-MAT, P = 4) do not, so they leave it out."""


# full-width copies a reduce-scatter or all-gather of a partial sum makes: the partial sum,
# the padded stack (or the gathered buffer) and the collective's own copy (or the
# concatenation and its contiguous transpose)
REDUCTION_COPIES = 3


def _aggregate_workspace(rows: int, width: int, buffers: Buffers, vb: int) -> int:
    """Beyond the step's input and output: the partial sum, one stage's product and its
    received blocks; on a 3D grid the copies of the reduce-scatter over the layers."""
    received = buffers.received_rows * width * vb
    if not buffers.staged:  # the all-to-all's buffers and the concatenation, then the product
        return received + buffers.exchange_rows * width * vb
    partial = buffers.partial_rows * width * vb
    stages = 2 * partial + 2 * received + buffers.received_sparse
    reduce = REDUCTION_COPIES * partial if buffers.layers > 1 else 0
    return max(stages, reduce) - rows * width * vb * (buffers.layers == 1)


def _transform_workspace(rows: int, f_out: int, buffers: Buffers, vb: int) -> int:
    """A grid with several columns forms the full-width product and reduce-scatters it
    (forward), or gathers it back (backward)."""
    return REDUCTION_COPIES * rows * f_out * vb if buffers.column_groups > 1 else 0


def rank_memory(shape: LocalShape, stored_graph: int, features: int, layers: list[list[Op]],
                parameters: int, value_bytes: int, dropout: bool, buffers: Buffers) -> Memory:
    """The training state of one rank at its peak (see the module's docstring).

    Args:
        shape: its rows, column share and blocks (:class:`~pargnn.cost.compute.LocalShape`).
        stored_graph: bytes of its sparse blocks (:func:`csr_bytes` summed by the caller).
        features: input feature width.
        buffers: the sizes of its collectives' workspace.
    """
    rows, cols, vb = shape.rows, shape.columns, value_bytes
    data = rows * cols(features) * vb + rows * (LABEL_BYTES + 3 * MASK_BYTES + ID_BYTES)
    data += cols(features) * ID_BYTES
    largest_block = max([*shape.forward_blocks, *shape.backward_blocks], default=0)
    kept = peak = 0  # bytes above the static state: saved for backward, highest so far
    backward: list[tuple[int, int]] = []  # (layer, gradient in + out + workspace) per step
    kept_after: list[int] = []  # kept at the end of each layer's forward pass
    for index, layer in enumerate(layers):
        f_in = layer[0].width if layer[0].kind == AGGREGATE else layer[0].f_in
        alive = 0  # the previous step's output, when autograd does not keep it
        if dropout:
            block = rows * cols(f_in)
            peak = max(peak, kept + block * (2 * vb + 1))  # output, scaled mask, keep-mask
            # the mask is kept only when the input needs a gradient (not the features)
            kept += block * vb * (2 if index > 0 else 1)
        for op in layer:
            workspace = 0
            if op.kind == AGGREGATE:
                out = rows * cols(op.width) * vb
                workspace = _aggregate_workspace(rows, cols(op.width), buffers, vb)
                if buffers.widened_indices:
                    workspace += WIDENED_INDEX_BYTES * largest_block
            elif op.kind == TRANSFORM:
                out = rows * cols(op.f_out) * vb
                workspace = _transform_workspace(rows, op.f_out, buffers, vb)
                if not dropout and index > 0:
                    kept += rows * cols(op.f_in) * vb
            elif op.kind == ATTEND:
                out = rows * cols(op.width) * vb
                kept += EDGE_COPIES * sum(shape.edge_blocks) * op.heads * vb
                workspace = _aggregate_workspace(rows, cols(op.width), buffers, vb)
            elif op.kind in (BIAS, SCALE, HEAD_SCORES):
                out = rows * cols(op.width or 1) * vb
            else:
                continue
            peak = max(peak, kept + alive + out + workspace)  # input, output, workspace
            backward.append((index, alive + out + workspace))
            alive = out
        kept += alive  # the activation keeps its output; the log-softmax keeps the logits
        kept_after.append(kept)
    # backward: the incoming and outgoing gradients in place of the input and output, while
    # the activations of the layers not yet reached are still kept
    peak = max([peak, kept] + [kept_after[index] + step for index, step in backward])
    return Memory(stored_graph, data, ADAM_COPIES * parameters * vb, kept, peak - kept)


class RankShape(NamedTuple):
    """What one rank computes (:class:`~pargnn.cost.compute.LocalShape`), the bytes of the
    graph it stores, and the workspace of its collectives: each family's planner entry."""

    shape: LocalShape
    stored: int
    buffers: Buffers
