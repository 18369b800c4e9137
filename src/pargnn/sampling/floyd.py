"""Uniform draws of ``k`` distinct positions out of ``d``, for many rows at once.

Robert Floyd's algorithm draws a ``k``-subset of ``{0..d-1}`` uniformly with exactly ``k``
random numbers: for ``j = d-k .. d-1`` draw ``t`` in ``[0, j]`` and take ``t``, or ``j`` when
``t`` was taken already. Run across rows in lock step it is ``k`` vectorised passes of
``O(rows x k)`` work, independent of the degrees, which a sort of every candidate edge is not:
a hub of a power-law graph with a million in-neighbours costs as much as a leaf. The random
numbers are keyed words (:func:`~pargnn.ops.dropout.keyed_words`), so a row's draw is a
function of its key alone.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pargnn.ops.dropout import mix64

_STEP = 0x2545F4914F6CDD1D  # odd multiplier separating the k draws of a row


def _step_offset(step: int) -> int:
    """``(step + 1) x _STEP`` modulo ``2^64``, as the signed integer torch stores."""
    word = ((step + 1) * _STEP) & (2**64 - 1)
    return word - 2**64 if word >= 2**63 else word


def floyd_positions(row_words: Tensor, degrees: Tensor, k: int) -> Tensor:
    """``k`` distinct positions in ``[0, degrees[r])`` per row, uniform over the k-subsets.

    Args:
        row_words: a keyed 64-bit word per row (int64), the row's randomness.
        degrees: the rows' lengths, each ``> k`` (int64).
        k: how many to draw, ``>= 1``.

    Shapes:
        ``row_words`` and ``degrees`` ``(R,)``; the result ``(R, k)``, int64, in draw order.
    """
    chosen = torch.empty((row_words.shape[0], k), dtype=torch.int64, device=row_words.device)
    for step in range(k):
        bound = degrees - (k - step) + 1  # j + 1 with j = d - k + step
        word = mix64(row_words + _step_offset(step))
        draw = (word >> 1 & 0x7FFFFFFFFFFFFFFF) % bound  # non-negative 63 bits
        if step:
            taken = (chosen[:, :step] == draw[:, None]).any(dim=1)
            draw = torch.where(taken, bound - 1, draw)
        chosen[:, step] = draw
    return chosen
