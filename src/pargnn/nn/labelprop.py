"""Label propagation (Zhou et al. 2004), the lecture's semi-supervised baseline.

It has no parameters and trains nothing: from the one-hot labels of the training vertices
``Y0`` it iterates

    ``Y_{k+1} = alpha Â^T Y_k + (1 - alpha) Y0``,   ``Y_0 = Y0``,

``K`` times (``--layers K``), with ``Â = D^-1/2 A D^-1/2`` (symmetric, no self-loops:
:func:`pargnn.graph.normalize.gcn_normalize`), and predicts ``argmax Y_K`` per vertex. Each
iteration is one aggregation, so it runs on every algorithm unchanged; ``Y`` has one column
per class, split over the grid columns like any vertex matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.errors import ConfigError
from pargnn.nn.options import ModelOptions


def seed_labels(algorithm: Algorithm, classes: int, dtype: torch.dtype) -> Tensor:
    """``Y0``: this process's rows and class columns of the one-hot training labels (zero
    rows for the other vertices)."""
    data = algorithm.data
    lo, hi = algorithm.columns(classes)
    columns = torch.arange(lo, hi, device=data.labels.device)
    one_hot = (data.labels[:, None] == columns) & data.train_mask[:, None]
    return one_hot.to(dtype)


class PropagationStep(nn.Module):
    r"""One iteration ``Y' = alpha Â^T Y + (1 - alpha) Y0`` (no parameters).

    Shapes: ``y`` ``(n, C)``, ``y0`` ``(m, C)`` (its destination rows), output ``(m, C)``.
    """

    def __init__(self, classes: int, alpha: float) -> None:
        super().__init__()
        self.in_features = self.out_features = classes
        self.alpha = alpha

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Nothing to draw."""

    def forward(self, algorithm: Algorithm, y: Tensor, y0: Tensor) -> Tensor:
        return self.alpha * algorithm.aggregate(y) + (1 - self.alpha) * y0

    def extra_repr(self) -> str:
        return f"classes={self.in_features}, alpha={self.alpha}"


class LabelPropagation(nn.Module):
    """``K`` propagation steps from the training labels (see the module docstring).

    Args:
        in_features: width of the input features (not used; kept for the common interface).
        num_classes: ``C``, the columns of ``Y``.
        iterations: ``K``.
        alpha: the weight of the propagated labels, in ``(0, 1)``.

    Shapes:
        output ``(n, num_classes)`` (globally); the input features are not used.
    """

    normalization = "sym"

    def __init__(self, in_features: int, num_classes: int, iterations: int = 10,
                 alpha: float = 0.9) -> None:
        super().__init__()
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"--alpha must be in (0, 1) for label propagation, got {alpha}")
        if iterations < 1:
            raise ConfigError(f"--layers (the iterations) must be >= 1, got {iterations}")
        self.in_features, self.num_classes = in_features, num_classes
        self.steps = nn.ModuleList(PropagationStep(num_classes, alpha)
                                   for _ in range(iterations))

    @classmethod
    def from_options(cls, options: ModelOptions) -> LabelPropagation:
        """``layers`` is ``K``; the widths, dropout and the rest do not apply."""
        return cls(options.in_features, options.num_classes, options.layers, options.alpha)

    def layers(self) -> list[nn.Module]:
        """The propagation steps, first to last."""
        return list(self.steps)

    def forward(self, algorithm: Algorithm, x: Tensor, epoch: int = 0) -> Tensor:
        y0 = seed_labels(algorithm, self.num_classes, x.dtype)
        y = y0
        for step in self.steps:
            y = step(algorithm, y, algorithm.destinations(y0))
        return y
