"""An analytic estimate of one epoch's work, kept next to the model and printed while training.

It counts what the code will do, not what it might: the sparse products the model's layers
perform (forward and backward, in the order each layer chose), their floating-point operations
and those of the dense products, all from the steps the model was recorded to take
(:mod:`pargnn.cost.steps`). Benchmarks compare measured epoch times against the time of exactly
these SpMMs (the kernel floor).
"""

from __future__ import annotations

from dataclasses import dataclass

from pargnn.cost.steps import AGGREGATE, ATTEND, TRANSFORM, Steps, flat

FORWARD, BACKWARD = "forward", "backward"


@dataclass(frozen=True)
class SpMMWork:
    """One sparse product a training step performs: its layer, its pass and its width."""

    layer: int
    direction: str  # "forward" (A^T H) or "backward" (A G)
    width: int


def spmm_work(layers: Steps, training: bool = True) -> list[SpMMWork]:
    """The sparse products of one step: each aggregation and attention forward, and
    backward where its input needs a gradient (not the raw features)."""
    work = []
    for index, layer in enumerate(layers):
        for op in layer:
            if op.kind not in (AGGREGATE, ATTEND):
                continue
            work.append(SpMMWork(index, FORWARD, op.width))
            if training and op.input_needs_grad:
                work.append(SpMMWork(index, BACKWARD, op.width))
    return work


def dense_flops(layers: Steps, rows: int, training: bool = True) -> int:
    """Floating-point operations of the dense products: ``X W`` forward; ``X^T dZ`` for a
    learnable weight and ``dZ W^T`` where the input needs a gradient, backward."""
    total = 0
    for op in flat(layers):
        if op.kind == TRANSFORM:
            passes = 1 + (training and op.weight_grad) + (training and op.input_needs_grad)
            total += 2 * passes * rows * op.f_in * op.f_out
    return total


def estimate_epoch(layers: Steps, nnz: int, rows: int, training: bool = True
                   ) -> dict[str, object]:
    """SpMM count, SpMM and dense GFLOP of one training step (or one forward pass) over
    ``nnz`` non-zeros and ``rows`` vertex rows."""
    work = spmm_work(layers, training)
    return {
        "spmm_calls": len(work),
        "spmm_widths": [w.width for w in work],
        "spmm_gflop": sum(2 * nnz * w.width for w in work) / 1e9,
        "dense_gflop": dense_flops(layers, rows, training) / 1e9,
        "nnz": nnz,
    }
