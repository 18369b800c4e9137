"""Non-zeros of the sparse blocks a layout cuts, counted or estimated.

The exact model needs, for every rank, the non-zeros of the blocks ``S[rows, B_s]`` of
``A^T`` (forward) and ``A`` (backward) it stores or receives. :class:`BlockIndex` counts them
in a CSR matrix; :class:`~pargnn.planner.statistics.UniformBlocks` estimates them from a
graph's size alone. Both answer the :class:`BlockCounter` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class BlockCounts:
    """Non-zeros of the blocks ``S[rows, B_s]`` of ``A^T`` (forward) and ``A`` (backward)."""

    forward: tuple[int, ...]
    backward: tuple[int, ...]


class CumulativeCounts(Protocol):
    """``counts[c]``: non-zeros of a row range in columns ``[0, c)``."""

    def __getitem__(self, column: int, /) -> int | np.integer: ...


@runtime_checkable
class BlockCounter(Protocol):
    """What the model asks of a matrix: its non-zeros and, for any row range, the cumulative
    non-zeros per column."""

    @property
    def nnz(self) -> int: ...

    def cumulative(self, lo: int, hi: int) -> CumulativeCounts: ...


class BlockIndex:
    """Non-zeros of the blocks of one CSR matrix for any split of its rows and columns.

    For each row range it is asked about, it keeps the cumulative count of non-zeros per
    column (one pass over the range's non-zeros, ``n + 1`` integers); any block of that range
    is then a difference of two entries. The planner asks for many grids, whose row ranges
    repeat, so each range is counted once.
    """

    def __init__(self, matrix: sp.csr_array) -> None:
        self.matrix = matrix
        self._cumulative: dict[tuple[int, int], np.ndarray] = {}

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def cumulative(self, lo: int, hi: int) -> np.ndarray:
        """``out[c]``: non-zeros of rows ``[lo, hi)`` in columns ``[0, c)``."""
        known = self._cumulative.get((lo, hi))
        if known is None:
            m = self.matrix
            counts = np.bincount(m.indices[m.indptr[lo]:m.indptr[hi]], minlength=m.shape[1])
            dtype = np.int32 if m.nnz < 2**31 else np.int64
            known = np.concatenate([[0], np.cumsum(counts, dtype=dtype)])
            self._cumulative[(lo, hi)] = known
        return known


Matrix: TypeAlias = "sp.csr_array | BlockCounter"


def as_index(matrix: Matrix) -> BlockCounter:
    # BlockIndex first: the common case, without the slower protocol check
    return matrix if isinstance(matrix, BlockIndex | BlockCounter) else BlockIndex(matrix)


def matrix_of(matrix: Matrix) -> sp.csr_array:
    """The CSR matrix itself, for the counts that need its pattern (the halo of a partition);
    a :class:`BlockCounter` that only estimates counts has none."""
    if isinstance(matrix, BlockIndex):
        return matrix.matrix
    if isinstance(matrix, BlockCounter):
        raise ValueError(f"{type(matrix).__name__} has no matrix to count halos in; pass the "
                         "halo matrix instead")
    return matrix


def bounds(offsets: np.ndarray | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(o) for o in offsets)


def count_blocks(at: Matrix, a: Matrix, rows: tuple[int, int],
                 blocks: list[tuple[int, int]]) -> BlockCounts:
    """Counts of ``S[rows, b]`` for column ranges ``b`` (not necessarily adjacent: a 3D
    layer's blocks interleave with the other layers')."""
    fwd, bwd = (tuple(int(cum[hi] - cum[lo]) for lo, hi in blocks)
                for cum in (as_index(m).cumulative(*rows) for m in (at, a)))
    return BlockCounts(fwd, bwd)
