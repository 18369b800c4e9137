"""An algorithm that computes nothing and writes down what a model asks of it.

The cost models (:mod:`pargnn.cost`) count a training step from the sequence of
:class:`~pargnn.cost.steps.Op` each layer performs. Instead of describing every layer class a
second time, :func:`model_steps` runs the model once against :class:`StepRecorder`, which
implements the :class:`~pargnn.algorithms.contract.Algorithm` contract on ``meta`` tensors
(shapes without storage): every call a layer makes through the contract is one step, with the
widths of its operands and whether autograd will need its input's gradient. A layer written
tomorrow is priced by the exact model, the planner and the estimate without a line of cost
code, and a layer that changes what it asks changes its price with it.

Shapes: the recorder's tensors have one row; only widths and ``requires_grad`` matter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from pargnn.algorithms.contract import Counts, LocalData
from pargnn.cost import steps
from pargnn.cost.steps import Op, Steps

META = torch.device("meta")


class SteppedModel(Protocol):
    """What :func:`model_steps` needs of a model: its layers (modules) and a forward pass
    ``model(algorithm, x)``."""

    in_features: int

    def layers(self) -> Sequence[Any]: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def _meta(rows: int, width: int, grad: bool = False) -> Tensor:
    return torch.empty(rows, width, device=META).requires_grad_(grad)


class StepRecorder:
    """The :class:`~pargnn.algorithms.contract.Algorithm` contract on meta tensors, recording
    one :class:`~pargnn.cost.steps.Op` per communicating call into the current layer."""

    def __init__(self, in_features: int, classes: int = 1) -> None:
        self.layers: Steps = []
        self.classes = classes
        flags = torch.zeros(1, dtype=torch.bool, device=META)
        self._data = LocalData(
            features=_meta(1, in_features), labels=torch.zeros(1, dtype=torch.int64,
                                                               device=META),
            train_mask=flags, val_mask=flags.clone(), test_mask=flags.clone(),
            row_ids=torch.zeros(1, dtype=torch.int64, device=META),
            feature_ids=torch.arange(in_features, device=META))

    def next_layer(self, *_: object) -> None:
        """Start recording the next layer (a forward pre-hook of every layer)."""
        self.layers.append([])

    def _record(self, op: Op) -> None:
        if not self.layers:
            raise RuntimeError("a model called its algorithm outside its layers")
        self.layers[-1].append(op)

    @property
    def data(self) -> LocalData:
        return self._data

    @property
    def local_nnz(self) -> int:
        return 0

    def stored_bytes(self) -> int:
        return 0

    def columns(self, width: int) -> tuple[int, int]:
        return 0, width

    def destinations(self, h: Tensor) -> Tensor:
        return h

    def aggregate(self, h: Tensor) -> Tensor:
        self._record(Op(steps.AGGREGATE, int(h.shape[1]), input_needs_grad=h.requires_grad))
        return _meta(1, h.shape[1], h.requires_grad)

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        f_in, f_out = int(weight.shape[0]), int(weight.shape[1])
        self._record(Op(steps.TRANSFORM, f_in=f_in, f_out=f_out,
                        input_needs_grad=h.requires_grad, weight_grad=weight.requires_grad))
        return _meta(1, f_out, h.requires_grad or weight.requires_grad)

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        self._record(Op(steps.BIAS, int(bias.shape[0])))
        return _meta(1, h.shape[1], h.requires_grad or bias.requires_grad)

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        self._record(Op(steps.SCALE))
        return _meta(1, h.shape[1], h.requires_grad or factor.requires_grad)

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        heads = int(attention.shape[0])
        self._record(Op(steps.HEAD_SCORES, int(h.shape[1]), heads=heads))
        return _meta(1, heads, h.requires_grad or attention.requires_grad)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        self._record(Op(steps.ATTEND, int(h.shape[1]), heads=heads,
                        input_needs_grad=h.requires_grad))
        return _meta(1, h.shape[1], h.requires_grad or s_src.requires_grad)

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        return h

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        return logits.sum()

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        return Counts(0, 0)


def model_steps(model: SteppedModel) -> Steps:
    """The communicating steps of each of ``model``'s layers, in forward order, recorded by
    one forward pass against a :class:`StepRecorder`."""
    recorder = StepRecorder(model.in_features)
    hook: Callable[..., None] = recorder.next_layer
    modules: list[nn.Module] = list(model.layers())
    handles = [layer.register_forward_pre_hook(hook) for layer in modules]
    try:
        with torch.enable_grad():
            model(recorder, recorder.data.features)
    finally:
        for handle in handles:
            handle.remove()
    return recorder.layers
