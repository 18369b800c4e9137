"""Dropout whose mask depends only on *what* is dropped, never on *where* it lives.

A distributed run holds each vertex (and, on 2D/3D grids, each feature column) on some rank in
some order. For it to train the same model as one process, the dropout mask of element
``(v, k)`` in layer ``l`` at epoch ``e`` must be a function of ``(seed, e, l, v, k)`` alone.
torch's generators are sequential, so they cannot give that; a counter-based hash can.

The hash: a well-mixed word per row ``r_v = mix(key, v)`` and per column ``c_k = mix(key', k)``
(splitmix64's finaliser, on ``n + f`` values only), then per element one multiply of
``r_v xor c_k`` by an odd constant modulo ``2^32`` and its top 24 bits as the uniform draw. The
per-element stage is three int32 passes over the block (int32 halves the memory traffic of
int64, and this is memory-bound); the keep probability ``1 - p`` is exact up to ``2^-24``.
:func:`reference_uniform_bits` is the same function on Python integers, which the tests use
to pin the tensor version to its definition on every device.
"""

from __future__ import annotations

import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_ELEMENT_MULTIPLIER = 0x9E3779B1  # odd, 32-bit
_UNIFORM_BITS = 24


def _signed(x: int, bits: int = 64) -> int:
    """Reinterpret an unsigned constant as the two's-complement integer torch stores."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >= 1 << (bits - 1) else x


def _logical_shift(x: Tensor, s: int) -> Tensor:
    return (x >> s) & ((1 << (64 - s)) - 1)


def mix64(x: Tensor) -> Tensor:
    """splitmix64's finaliser on an int64 tensor (wrapping arithmetic)."""
    x = x ^ _logical_shift(x, 30)
    x = x * _signed(_MIX1)
    x = x ^ _logical_shift(x, 27)
    x = x * _signed(_MIX2)
    return x ^ _logical_shift(x, 31)


def mix64_int(x: int) -> int:
    """:func:`mix64` on one unsigned Python integer."""
    x &= _MASK64
    x ^= x >> 30
    x = (x * _MIX1) & _MASK64
    x ^= x >> 27
    x = (x * _MIX2) & _MASK64
    return x ^ (x >> 31)


def mixed_key(*values: int) -> int:
    """One well-mixed signed 64-bit key per tuple of integers (order matters)."""
    key = 0
    for value in values:
        key = mix64_int(key * _GOLDEN + value + 1)
    return _signed(key)


def dropout_key(seed: int, epoch: int, layer: int, stream: int = 0) -> int:
    """One 64-bit key per (seed, epoch, layer, stream); streams separate e.g. edges from rows."""
    return mixed_key(seed, epoch, layer, stream)


def keyed_words(key: int, ids: Tensor) -> Tensor:
    """A well-mixed signed 64-bit word per id: a pure function of (``key``, id)."""
    return mix64(ids.to(torch.int64) * _signed(_GOLDEN) + key)


def _row_words(key: int, row_ids: Tensor) -> Tensor:
    return (keyed_words(key, row_ids) >> 32).to(torch.int32)


def _col_words(key: int, col_ids: Tensor) -> Tensor:
    return (mix64(col_ids.to(torch.int64) * _signed(_MIX1) + _signed(~key)) >> 32).to(torch.int32)


def keyed_uniform_bits(key: int, row_ids: Tensor, col_ids: Tensor) -> Tensor:
    """Signed 24-bit uniform integers in ``[-2^23, 2^23)``, shape
    ``(len(row_ids), len(col_ids))``: a pure function of ``(key, row id, column id)``."""
    rows, cols = _row_words(key, row_ids), _col_words(key, col_ids)
    h = rows[:, None].expand(rows.shape[0], cols.shape[0]).contiguous()
    h.bitwise_xor_(cols)
    h.mul_(_signed(_ELEMENT_MULTIPLIER, 32))  # wraps modulo 2^32, as on every torch backend
    return h.bitwise_right_shift_(32 - _UNIFORM_BITS)


def reference_uniform_bits(key: int, row: int, col: int) -> int:
    """:func:`keyed_uniform_bits` for one element, on Python integers (the definition)."""
    r = mix64_int(row * _GOLDEN + key) >> 32
    c = mix64_int(col * _MIX1 + (~key & _MASK64)) >> 32
    h = ((r ^ c) * _ELEMENT_MULTIPLIER) & _MASK32
    return _signed(h, 32) >> (32 - _UNIFORM_BITS)


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
    # one pass builds the scaled mask; autograd then reuses it for the backward product
    return h * keep.to(h.dtype).mul_(1.0 / (1.0 - p))
