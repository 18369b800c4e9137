"""The vocabulary of the cost models: a layer's communicating steps.

Every model of pargnn -- the exact communication model, the compute and memory models, the
analytic estimate printed at the start of a run -- counts what a training step does from the
same description: the sequence of :class:`Op` each layer's forward pass asks of its algorithm
(the backward pass runs them in reverse). Nobody writes that sequence by hand: it is recorded
by running the model against an algorithm that only takes notes
(:mod:`pargnn.algorithms.recording`), so a new layer is priced as soon as it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

AGGREGATE, TRANSFORM, BIAS, SCALE = "aggregate", "transform", "bias", "scale"
HEAD_SCORES, ATTEND = "head_scores", "attend"


@dataclass(frozen=True)
class Op:
    """One communicating step of a layer's forward pass, in order.

    ``kind`` is ``aggregate`` (an SpMM of ``width`` columns), ``transform`` (``h W`` with a
    ``f_in x f_out`` weight), ``bias`` (``width`` wide), ``scale`` (a learnable scalar),
    ``head_scores`` (per-head dot products of a ``width``-wide matrix with a ``heads x
    width / heads`` attention vector) or ``attend`` (graph attention over ``heads`` heads of a
    ``width``-wide matrix). ``input_needs_grad`` is false for a step whose input needs no
    gradient (the raw features or their aggregation: no ``dX`` product or halo exchange
    backward); ``weight_grad`` is false for a transform by a fixed matrix.
    """

    kind: str
    width: int = 0
    f_in: int = 0
    f_out: int = 0
    input_needs_grad: bool = True
    heads: int = 1
    weight_grad: bool = True


Steps = list[list[Op]]  # per layer, its forward steps in order


def flat(layers: Steps) -> list[Op]:
    """Every step of every layer, first to last."""
    return [op for layer in layers for op in layer]


def gradient_words(op: Op) -> int:
    """Words of the parameter whose gradient a step all-reduces: a ``f_in x f_out`` weight,
    a bias ``width`` wide, a scalar; none for a fixed matrix or a step without parameters."""
    if op.kind == TRANSFORM:
        return op.f_in * op.f_out if op.weight_grad else 0
    return {BIAS: op.width, SCALE: 1}.get(op.kind, 0)
