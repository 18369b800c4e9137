"""Dropout whose mask depends only on *what* is dropped, never on *where* it lives.

A distributed run holds each vertex (and, on 2D/3D grids, each feature column) on some rank in
some order. For it to train the same model as one process, the dropout mask of element
``(v, k)`` in layer ``l`` at epoch ``e`` must be a function of ``(seed, e, l, v, k)`` alone.
torch's generators are sequential, so they cannot give that; a counter-based hash can.

The hash: a well-mixed 64-bit word per row ``r_v = mix(key, v)`` and per column
``c_k = mix(key', k)`` (splitmix64's finaliser on ``n + f`` values, cheap), then per element one
odd multiply of ``r_v xor c_k`` and its top 24 bits as the uniform draw. The per-element part is
four integer passes over the block; keep probability ``1 - p`` is exact up to ``2^-24``.
"""

from __future__ import annotations

import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_ELEMENT_MULTIPLIER = 0xD6E8FEB86659FD93
_UNIFORM_BITS = 24


def _signed(x: int) -> int:
    """Reinterpret a 64-bit unsigned constant as the int64 torch stores."""
    x &= _MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


def _logical_shift(x: Tensor, s: int) -> Tensor:
    return (x >> s) & ((1 << (64 - s)) - 1)


def mix64(x: Tensor) -> Tensor:
    """splitmix64's finaliser on an int64 tensor (wrapping arithmetic)."""
    x = x ^ _logical_shift(x, 30)
    x = x * _signed(_MIX1)
    x = x ^ _logical_shift(x, 27)
    x = x * _signed(_MIX2)
    return x ^ _logical_shift(x, 31)


def dropout_key(seed: int, epoch: int, layer: int, stream: int = 0) -> int:
    """One 64-bit key per (seed, epoch, layer, stream); streams separate e.g. edges from rows."""
    x = torch.tensor([seed, epoch, layer, stream], dtype=torch.int64)
    key = 0
    for value in mix64(x * _signed(_GOLDEN) + torch.arange(1, 5)).tolist():
        key = int(mix64(torch.tensor([_signed(key * 31 + value)]))[0])
    return key


def keyed_uniform_bits(key: int, row_ids: Tensor, col_ids: Tensor) -> Tensor:
    """Signed 24-bit uniform integers, shape ``(len(row_ids), len(col_ids))``, in
    ``[-2^23, 2^23)``, a pure function of ``(key, row id, column id)``."""
    rows = mix64(row_ids.to(torch.int64) * _signed(_GOLDEN) + key)
    cols = mix64(col_ids.to(torch.int64) * _signed(_MIX1) + _signed(~key))
    h = torch.bitwise_xor(rows[:, None], cols[None, :])
    h.mul_(_signed(_ELEMENT_MULTIPLIER))
    h.bitwise_right_shift_(64 - _UNIFORM_BITS)
    return h


def keyed_dropout(h: Tensor, p: float, key: int, row_ids: Tensor, col_ids: Tensor) -> Tensor:
    """Inverted dropout of ``h`` with a mask that is a function of (key, global ids).

    Args:
        h: the local block, shape ``(len(row_ids), len(col_ids))``.
        p: drop probability in ``[0, 1)``.
        key: from :func:`dropout_key`.
        row_ids, col_ids: global vertex ids of the rows, global feature ids of the columns.
    """
    if p == 0.0:
        return h
    threshold = -(1 << (_UNIFORM_BITS - 1)) + round(p * (1 << _UNIFORM_BITS))
    keep = keyed_uniform_bits(key, row_ids.to(h.device), col_ids.to(h.device)) >= threshold
    return h * keep * (1.0 / (1.0 - p))
