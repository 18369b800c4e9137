"""One process's place in a layout: its coordinates, its groups, its rows and columns.

Every distributed algorithm is written against one of two places:

* :class:`GridPlace`: process ``(i, j, l)`` of a ``Pr x Pc x Pl`` grid holds vertex rows
  ``B[i, l]`` and feature columns ``F[j]`` of every dense matrix (1D, 2D, 3D, sa1d; see
  :mod:`pargnn.layout.offsets`);
* :class:`ReplicatedPlace`: process ``(i, r)`` of a ``P/c x c`` grid holds block row ``B[i]``
  with every column; the ``c`` processes ``(i, *)`` are replicas, and replica ``r`` computes
  a contiguous chunk of the stages ``s`` (1.5D, sa1.5d).

A place also carries the run's communicator, device and precision, so that the functions of
an algorithm take one argument for "where am I and how do I talk".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pargnn.dist.comm import Communicator
from pargnn.layout.mesh import ProcessGrid
from pargnn.layout.offsets import GridLayout, balanced_offsets


@dataclass(frozen=True)
class GridPlace:
    """This process's coordinates, groups and the grid's sizes."""

    grid: ProcessGrid
    comm: Communicator
    layout: GridLayout
    device: torch.device
    dtype: torch.dtype

    @property
    def i(self) -> int:
        return self.grid.coord("row")

    @property
    def j(self) -> int:
        return self.grid.coord("col")

    @property
    def layer(self) -> int:
        return self.grid.coord("layer")

    @property
    def rows(self) -> tuple[int, int]:
        return self.layout.block(self.i, self.layer)

    def cols(self, width: int) -> tuple[int, int]:
        return self.layout.features(width, self.j)


@dataclass(frozen=True)
class ReplicatedPlace:
    """This process's block row, its replica index, groups and sizes."""

    grid: ProcessGrid
    comm: Communicator
    n: int
    device: torch.device
    dtype: torch.dtype
    offsets: tuple[int, ...] | None = None  # block row bounds; None: balanced

    @property
    def teams(self) -> int:  # R: block rows
        return self.grid.size("row")

    @property
    def replication(self) -> int:  # c
        return self.grid.size("rep")

    @property
    def i(self) -> int:
        return self.grid.coord("row")

    @property
    def r(self) -> int:
        return self.grid.coord("rep")

    def block(self, b: int) -> tuple[int, int]:
        off = balanced_offsets(self.n, self.teams) if self.offsets is None else self.offsets
        return int(off[b]), int(off[b + 1])

    @property
    def rows(self) -> tuple[int, int]:
        return self.block(self.i)

    def cols(self, width: int) -> tuple[int, int]:
        return 0, width

    def stages(self, r: int | None = None) -> range:
        """The blocks ``s`` whose term replica ``r`` (default: this one) computes."""
        off = balanced_offsets(self.teams, self.replication)
        k = self.r if r is None else r
        return range(int(off[k]), int(off[k + 1]))
