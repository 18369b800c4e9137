"""The DeviceMesh that realises a process grid, and the few questions algorithms ask of it."""

from __future__ import annotations

import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from pargnn.errors import ConfigError
from pargnn.layout.spec import GRID_DIMS, GridSpec


class ProcessGrid:
    """A DeviceMesh with named dimensions (:class:`~pargnn.layout.spec.GridSpec`).

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
