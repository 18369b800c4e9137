"""The contract between layers and the algorithms that lay them out over processes.

The seam of pargnn's design (``docs/guide.md``): a layer never knows which algorithm runs it.
It asks the algorithm to

* aggregate: ``A^T H`` over the graph (the SpMM, where the communication is),
* transform: ``H W`` with a weight every rank holds whole,
* add a bias and apply dropout to its local block,
* reduce the loss and the accuracy to their global values,

and the algorithm owns the layout: which rows (vertices) and columns (features) of ``H`` this
process holds, and what it must send to compute each step. The single-process algorithm
(:mod:`pargnn.algorithms.single`) is the reference every distributed one is tested against.

**Rectangular operators.** The operator an algorithm aggregates with need not be square: a
sampled mini-batch layer or a pipeline chunk computes ``m`` destination rows from ``n >= m``
source rows. The convention is *destinations first*: the destinations are the first ``m``
sources, so ``aggregate`` maps ``(n, f) -> (m, f)`` and a layer that combines its input with
the aggregate (a root weight, a residual, GIN's self term, attention's destination scores)
takes the destination rows of its input with :meth:`Algorithm.destinations`. For the
full-graph algorithms ``m = n`` and that is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor


@dataclass(frozen=True)
class LocalData:
    """What this process holds of the graph's vertex data, in the algorithm's layout.

    ``features`` holds the input columns ``feature_ids`` of the source rows, whose global ids
    are ``row_ids``; ``labels`` and the masks are per destination row (the first rows of
    ``row_ids``: all of them for a full-graph algorithm).
    """

    features: Tensor
    labels: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    row_ids: Tensor
    feature_ids: Tensor


def tensor_bytes(*tensors: Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def local_data_bytes(data: LocalData) -> int:
    """Bytes of the vertex data one process holds."""
    return tensor_bytes(data.features, data.labels, data.train_mask, data.val_mask,
                        data.test_mask, data.row_ids, data.feature_ids)


@dataclass(frozen=True)
class Counts:
    """Global correct/total counts for one split; the accuracy is NaN for an empty split
    (reports write it as null)."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


SPLITS = ("train", "val", "test")


def split_of(data: LocalData, mask: Tensor) -> str:
    """Which of ``data``'s own split masks ``mask`` is (``train``, ``val`` or ``test``)."""
    for name in SPLITS:
        if mask is getattr(data, f"{name}_mask"):
            return name
    raise ValueError("expected one of the algorithm's own split masks (algorithm.data.*_mask)")


class Algorithm(Protocol):
    """What a layer may ask of the algorithm that runs it.

    Every tensor argument and result is this process's block in the algorithm's layout; every
    method is differentiable where a layer needs it to be.
    """

    @property
    def data(self) -> LocalData:
        """This process's share of features, labels and masks."""
        ...

    @property
    def local_nnz(self) -> int:
        """Non-zeros of the graph this process multiplies in one aggregation."""
        ...

    def stored_bytes(self) -> int:
        """Bytes of the graph this process holds: its sparse blocks and its vertex data."""
        ...

    def columns(self, width: int) -> tuple[int, int]:
        """The global column range ``[lo, hi)`` of a ``width``-wide vertex matrix that this
        process holds (all of it unless the layout splits the features)."""
        ...

    def destinations(self, h: Tensor) -> Tensor:
        """The rows of ``h`` (one row per source) that the operator writes: the first ``m``
        (Shapes: ``(n, f) -> (m, f)``; the identity for a square operator)."""
        ...

    def aggregate(self, h: Tensor) -> Tensor:
        """``A^T h``: each destination gathers its in-neighbours' rows (Shapes:
        ``(n, f) -> (m, f)`` globally)."""
        ...

    def transform(self, h: Tensor, weight: Tensor) -> Tensor:
        """``h @ weight`` for a full ``(f_in, f_out)`` weight (Shapes: ``(r, f_in) -> (r, f_out)``
        globally); its backward yields the full ``dL/dW`` on every process."""
        ...

    def add_bias(self, h: Tensor, bias: Tensor) -> Tensor:
        """``h + bias`` for a full ``(f,)`` bias."""
        ...

    def scale(self, h: Tensor, factor: Tensor) -> Tensor:
        """``h * factor`` for a learnable ``(1,)`` factor (GIN's ``1 + eps``); its backward
        yields the full gradient of ``factor`` on every process."""
        ...

    def head_scores(self, h: Tensor, attention: Tensor) -> Tensor:
        """Per vertex and head ``k``, ``<attention[k], h_v[k f':(k+1) f']>``: ``(rows, K)``
        from ``h`` ``(rows, K f')`` and ``attention`` ``(K, f')``."""
        ...

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        """Graph attention: ``z_j = sum_i alpha_ij h_i`` per head with
        ``alpha = softmax_{in-edges of j} LeakyReLU(s_src[i] + s_dst[j])``, attention dropout
        keyed by (``key``, global edge, head); ``head_width`` is ``f'``. Shapes: ``h`` and
        ``s_src`` have a row per source, ``s_dst`` and the result a row per destination."""
        ...

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        """Dropout with a mask that depends only on ``key`` and global (vertex, feature) ids;
        ``width`` is the global number of columns of the matrix ``h`` is a block of."""
        ...

    def cross_entropy(self, logits: Tensor, mask: Tensor) -> Tensor:
        """Mean cross-entropy over the global set of vertices in ``mask`` (same value on every
        process)."""
        ...

    def count_correct(self, logits: Tensor, mask: Tensor) -> Counts:
        """Global number of correctly classified vertices in ``mask``."""
        ...
