"""The phases a run's collectives are logged under, shared by the code and the exact model.

:class:`~pargnn.dist.comm.CommLog` records every call under the phase that is open when it is
made; the exact communication model (:mod:`pargnn.cost.traffic` and the families' models)
predicts calls per phase. Both sides name the phases with these constants, so a renamed phase
cannot silently break the check that holds them equal.
"""

from __future__ import annotations

from typing import Final

SETUP: Final = "setup"  # building blocks, halos, partitions (the log's phase when none is open)
TRAIN: Final = "train"  # one optimisation step; the phases below nest inside it
EVALUATION: Final = "evaluation"  # the accuracy pass after each epoch
FORWARD_AGGREGATION: Final = "forward_aggregation"  # A^T H
BACKWARD_AGGREGATION: Final = "backward_aggregation"  # A G
DENSE_TRANSFORM: Final = "dense_transform"  # H W, bias and scale, and their gradients
FORWARD_ATTENTION: Final = "forward_attention"  # scores and edge weights of graph attention
BACKWARD_ATTENTION: Final = "backward_attention"  # their gradients
LOSS: Final = "loss"  # global loss and accuracy counts
GRADIENT_REDUCTION: Final = "gradient_reduction"  # data parallelism's all-reduce of gradients

STEP_PHASES: Final = (FORWARD_AGGREGATION, BACKWARD_AGGREGATION, DENSE_TRANSFORM,
                      FORWARD_ATTENTION, BACKWARD_ATTENTION, LOSS, GRADIENT_REDUCTION)


def aggregation(backward: bool) -> str:
    """The aggregation phase of one direction."""
    return BACKWARD_AGGREGATION if backward else FORWARD_AGGREGATION


def attention(backward: bool) -> str:
    """The attention phase of one direction."""
    return BACKWARD_ATTENTION if backward else FORWARD_ATTENTION
