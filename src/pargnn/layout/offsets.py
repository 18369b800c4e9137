"""Who holds which rows and columns: block offsets and the grid layout of a dense matrix.

Vertices are cut into contiguous, balanced blocks (sizes differ by at most one; a block may be
empty when there are more blocks than vertices). On a ``Pr x Pc x Pl`` grid the vertex blocks
are indexed ``b = i * Pl + l``: process ``(i, j, l)`` holds rows ``B[i, l]`` and the feature
columns ``F[j]`` of every dense matrix, so grid row ``i`` owns the contiguous range
``V[i] = B[i, 0] ∪ ... ∪ B[i, Pl - 1]``. Features of any width are cut the same balanced way
into ``Pc`` slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def balanced_offsets(n: int, parts: int) -> np.ndarray:
    """``parts + 1`` offsets cutting ``range(n)`` into contiguous blocks of near-equal size."""
    base, extra = divmod(n, parts)
    sizes = np.full(parts, base, dtype=np.int64)
    sizes[:extra] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


@dataclass(frozen=True)
class GridLayout:
    """The layout of dense matrices on a ``rows x cols x layers`` grid for ``n`` vertices.

    ``offsets`` (``rows * layers + 1`` of them) replaces the balanced vertex blocks by a
    partition's parts.
    """

    n: int
    rows: int
    cols: int
    layers: int
    offsets: tuple[int, ...] | None = None

    @property
    def vertex_offsets(self) -> np.ndarray:
        if self.offsets is not None:
            return np.asarray(self.offsets, dtype=np.int64)
        return balanced_offsets(self.n, self.rows * self.layers)

    def block(self, i: int, layer: int) -> tuple[int, int]:
        """Global vertex range ``B[i, l]``."""
        off = self.vertex_offsets
        b = i * self.layers + layer
        return int(off[b]), int(off[b + 1])

    def block_size(self, i: int, layer: int) -> int:
        lo, hi = self.block(i, layer)
        return hi - lo

    def max_block(self) -> int:
        return int(np.diff(self.vertex_offsets).max())

    def grid_row(self, i: int) -> tuple[int, int]:
        """Global vertex range ``V[i]`` of grid row ``i`` (all its layers)."""
        return self.block(i, 0)[0], self.block(i, self.layers - 1)[1]

    def features(self, width: int, j: int) -> tuple[int, int]:
        """Column range ``F[j]`` of a matrix ``width`` wide."""
        off = balanced_offsets(width, self.cols)
        return int(off[j]), int(off[j + 1])

    def max_features(self, width: int) -> int:
        return -(-width // self.cols)
