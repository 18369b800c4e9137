"""Process grids: which shapes an algorithm may use, and the DeviceMesh that realises one.

Each algorithm lays its P processes out on a grid with named dimensions:

============  ================  ==================================================
algorithm     shape             dimensions
============  ================  ==================================================
1d, sa1d      P x 1 x 1         row (vertex blocks), col, layer (both of size 1)
1.5d, sa1.5d  P/c x c           row (vertex blocks), rep (replicas of a block row)
2d            Pr x Pc x 1       row (vertex blocks), col (feature blocks), layer
3d            Pr x Pc x Pl      row, col, layer (slabs of the contraction dimension)
============  ================  ==================================================

A shape that cannot work (a grid whose product is not P, a replication that does not divide P)
is refused with a :class:`~pargnn.errors.ConfigError` that lists the shapes that would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from pargnn.errors import ConfigError

ALGORITHMS = ("1d", "1.5d", "2d", "3d", "sa1d", "sa1.5d")
SPARSITY_AWARE = ("sa1d", "sa1.5d")
REPLICATED = ("1.5d", "sa1.5d")
GRID_DIMS = ("row", "col", "layer")
REPLICATED_DIMS = ("row", "rep")


@dataclass(frozen=True)
class GridSpec:
    """An algorithm and the shape of its process grid (row-major rank order)."""

    algorithm: str
    shape: tuple[int, ...]
    dim_names: tuple[str, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def describe(self) -> str:
        return "x".join(str(s) for s in self.shape)


def divisors(p: int) -> list[int]:
    return [d for d in range(1, p + 1) if p % d == 0]


def shapes_2d(p: int) -> list[tuple[int, ...]]:
    return [(r, p // r) for r in divisors(p)]


def shapes_3d(p: int) -> list[tuple[int, ...]]:
    return [(r, c, p // (r * c)) for r in divisors(p) for c in divisors(p // r)]


def valid_replications(p: int) -> list[int]:
    """``c`` for 1.5D: it divides P and leaves each replica at least one broadcast stage."""
    return [c for c in divisors(p) if c * c <= p]


def _parse_grid(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(
            f"--grid {text!r} is not a grid; write it as RxC or RxCxL, e.g. 2x3"
        ) from None
    if any(s < 1 for s in shape):
        raise ConfigError(f"--grid {text!r}: every dimension must be >= 1")
    return shape


def _listing(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join("x".join(str(s) for s in shape) for shape in shapes)


def default_2d(p: int) -> tuple[int, ...]:
    """The most square ``Pr x Pc`` with ``Pr <= Pc`` (fewer SUMMA stages on a tie)."""
    rows = max(d for d in divisors(p) if d * d <= p)
    return rows, p // rows


def most_balanced(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The shape whose largest dimension is smallest (ties: a square base, then more rows)."""
    return min(shapes, key=lambda s: (max(s), s[0] != s[1], [-d for d in s]))


def default_3d(p: int) -> tuple[int, ...]:
    """The most balanced 3D shape that has at least two layers (a 3D grid with one layer is
    a 2D grid); for a prime P that is ``1 x 1 x P``."""
    layered = [s for s in shapes_3d(p) if s[2] >= 2]
    return most_balanced(layered or shapes_3d(p))


def plan_grid(algorithm: str, nprocs: int, grid: str | None = None,
              replication: int | None = None) -> GridSpec:
    """Check a requested layout against ``nprocs`` and return it in normal form."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"--algo {algorithm!r} is not one of: {', '.join(ALGORITHMS)}")
    if nprocs < 1:
        raise ConfigError(f"--nprocs must be >= 1, got {nprocs}")
    if algorithm not in REPLICATED and replication not in (None, 1):
        raise ConfigError(f"--replication applies to --algo {' and '.join(REPLICATED)} only "
                          f"(got {algorithm})")
    if algorithm in ("1d", "sa1d"):
        if grid is not None and _parse_grid(grid) != (nprocs,):
            raise ConfigError(f"--algo {algorithm} uses a {nprocs}-process row; "
                              f"drop --grid {grid}")
        return GridSpec(algorithm, (nprocs, 1, 1), GRID_DIMS)
    if algorithm in REPLICATED:
        return _plan_replicated(algorithm, nprocs, grid, replication)
    if algorithm == "2d":
        options2 = shapes_2d(nprocs)
        shape = default_2d(nprocs) if grid is None else _parse_grid(grid)
        if len(shape) != 2 or shape not in options2:
            raise ConfigError(f"--grid {grid} does not fit --algo 2d with {nprocs} processes; "
                              f"grids that do: {_listing(options2)}")
        return GridSpec("2d", (shape[0], shape[1], 1), GRID_DIMS)
    options3 = shapes_3d(nprocs)
    shape = default_3d(nprocs) if grid is None else _parse_grid(grid)
    if len(shape) != 3 or shape not in options3:
        raise ConfigError(f"--grid {grid} does not fit --algo 3d with {nprocs} processes; "
                          f"grids that do: {_listing(options3)}")
    return GridSpec("3d", shape, GRID_DIMS)


def _plan_replicated(algorithm: str, nprocs: int, grid: str | None,
                     replication: int | None) -> GridSpec:
    options = valid_replications(nprocs)
    c = replication
    if c is None and grid is not None:
        shape = _parse_grid(grid)
        c = shape[1] if len(shape) == 2 and shape[0] * shape[1] == nprocs else -1
    if c is None:
        c = max(options)
    if c not in options:
        raise ConfigError(
            f"replication {c} does not fit --algo {algorithm} with {nprocs} processes (c must "
            f"divide P and c^2 <= P); replications that do: {', '.join(map(str, options))}"
        )
    return GridSpec(algorithm, (nprocs // c, c), REPLICATED_DIMS)


class ProcessGrid:
    """A DeviceMesh with named dimensions, plus the few questions algorithms ask of it.

    Every process of the default group must construct it (it creates the sub-groups).
    """

    def __init__(self, spec: GridSpec, device_type: str = "cpu") -> None:
        if spec.size != dist.get_world_size():
            raise ConfigError(
                f"the {spec.algorithm} grid {spec.describe()} needs {spec.size} processes, "
                f"but {dist.get_world_size()} are running"
            )
        self.spec = spec
        self.mesh: DeviceMesh = init_device_mesh(
            device_type, spec.shape, mesh_dim_names=spec.dim_names
        )
        self.rank = dist.get_rank()
        self._peers = self._make_peer_group()

    def _make_peer_group(self) -> dist.ProcessGroup | None:
        """On a grid with both a column and a layer dimension, the group of the processes
        that share this one's row coordinate (DeviceMesh names single dimensions only)."""
        if self.spec.dim_names != GRID_DIMS or min(self.spec.shape[1:]) == 1:
            return None
        rows, cols, layers = self.spec.shape
        members = [[i * cols * layers + k for k in range(cols * layers)] for i in range(rows)]
        group, _ = dist.new_subgroups_by_enumeration(members)
        return group

    def peers(self) -> tuple[dist.ProcessGroup | None, int]:
        """The processes of this one's grid row ``(i, *, *)`` (all columns and layers), and
        how many there are: the group over which a vertex's in-edges are spread."""
        cols, layers = self.size("col"), self.size("layer")
        if self._peers is not None:
            return self._peers, cols * layers
        if cols > 1:
            return self.group("col"), cols
        return (self.group("layer") if layers > 1 else None), layers

    def size(self, dim: str) -> int:
        return int(self.mesh.size(self.spec.dim_names.index(dim)))

    def coord(self, dim: str) -> int:
        return int(self.mesh.get_local_rank(dim))

    def group(self, dim: str) -> dist.ProcessGroup:
        """The processes that differ from this one only in ``dim``."""
        return self.mesh.get_group(dim)

    def global_rank(self, **coords: int) -> int:
        """The rank at the given coordinates; missing dimensions are this process's own."""
        index = [coords.get(d, self.coord(d)) for d in self.spec.dim_names]
        flat = 0
        for size, i in zip(self.spec.shape, index, strict=True):
            flat = flat * size + i
        return int(self.mesh.mesh.flatten()[flat])
