"""An analytic estimate of one epoch's work, kept next to the model and printed while training.

It counts what the code will do, not what it might: the SpMMs the model's layers perform
(forward and backward, in the order each layer chose), their floating-point operations and the
dense activations they touch. Benchmarks compare measured epoch times against the time of
exactly these SpMMs (the kernel floor).
"""

from __future__ import annotations

from pargnn.nn.models import GraphModel


def estimate_epoch(model: GraphModel, nnz: int, num_nodes: int) -> dict[str, object]:
    """SpMM count, SpMM flops and the dense activation words one training step touches."""
    work = model.spmm_work()
    spmm_flops = sum(2 * nnz * w.width for w in work)
    dense_flops = sum(
        2 * 2 * num_nodes * conv.in_features * conv.out_features for conv in model.layers()
    )
    return {
        "spmm_calls": len(work),
        "spmm_widths": [w.width for w in work],
        "spmm_gflop": spmm_flops / 1e9,
        "dense_gflop": dense_flops / 1e9,
        "nnz": nnz,
    }
