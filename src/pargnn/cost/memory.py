"""Peak memory of one rank's training state, predicted from what it stores and computes.

The training state is what a rank holds to train, beyond the runtime itself (the Python
interpreter, torch and the process group):

* **graph**: its sparse blocks of ``A^T`` and ``A`` (CSR: row pointer, column indices,
  values), or for the sparsity-aware algorithms its compact block in both orientations and
  the halo's send list;
* **vertex data**: its rows of the features (its columns on a 2D/3D grid), labels, masks and
  ids;
* **model**: every parameter four times (value, gradient, Adam's two moments);
* **activations**: what autograd keeps from the forward pass for the backward pass. Per
  layer: the dropout mask and the dropped input, the input of each dense transform, the
  activation's output; GAT adds its edge weights (``nnz x K``, several copies);
* **transient**: the largest buffers alive at once in the backward pass: the gradient of a
  layer's widest matrix twice (incoming and outgoing) and the largest block received in a
  collective.

The benchmark ``benchmarks/planner`` compares this with the measured peak (the bytes the rank
counts in its tensors at setup plus the peak growth of its resident set while training).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pargnn.cost.compute import LocalShape
from pargnn.cost.exact import Op

LABEL_BYTES, MASK_BYTES, ID_BYTES = 8, 1, 8  # int64 labels, bool masks, int64 ids
ADAM_COPIES = 4  # value, gradient, two moments
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


def rank_memory(shape: LocalShape, stored_graph: int, features: int, layers: list[list[Op]],
                parameters: int, value_bytes: int, dropout: bool,
                received_rows: Sequence[int]) -> Memory:
    """The training state of one rank.

    Args:
        shape: its rows, column share and blocks (:class:`~pargnn.cost.compute.LocalShape`).
        stored_graph: bytes of its sparse blocks (:func:`csr_bytes` summed by the caller).
        features: input feature width.
        received_rows: rows of the dense blocks it receives in one aggregation (its largest
            is the transient receive buffer).
    """
    rows, cols, vb = shape.rows, shape.columns, value_bytes
    data = rows * cols(features) * vb + rows * (LABEL_BYTES + 3 * MASK_BYTES + ID_BYTES)
    data += cols(features) * ID_BYTES
    activations = 0
    widest = cols(features)
    for index, layer in enumerate(layers):
        f_in = layer[0].width if layer[0].kind == "aggregate" else layer[0].f_in
        if dropout:
            activations += 2 * rows * cols(f_in) * vb
        for op in layer:
            if op.kind == "transform":
                activations += rows * cols(op.f_in) * vb
                widest = max(widest, cols(op.f_out), cols(op.f_in))
            elif op.kind == "attend":
                edges = sum(shape.edge_blocks)
                activations += EDGE_COPIES * edges * op.heads * vb + rows * cols(op.width) * vb
        if index < len(layers) - 1:
            out = [op for op in layer if op.kind == "transform"][-1].f_out
            activations += rows * cols(out) * vb
    largest_received = max(received_rows, default=0)
    transient = (2 * rows + largest_received) * widest * vb
    return Memory(stored_graph, data, ADAM_COPIES * parameters * vb, activations, transient)
