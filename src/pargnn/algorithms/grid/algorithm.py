"""The :class:`~pargnn.algorithms.contract.Algorithm` of a ``Pr x Pc x Pl`` grid, and how a
rank builds it.

The aggregation is the SUMMA of :mod:`pargnn.algorithms.grid.summa`, graph attention that of
:mod:`pargnn.algorithms.grid.attention`, the dense steps those of
:mod:`pargnn.algorithms.grid.dense`.
"""

from __future__ import annotations

from functools import cached_property, partial

import numpy as np
from torch import Tensor

from pargnn.algorithms.block_attention import AttentionStep, StoredEdges
from pargnn.algorithms.contract import LocalData, local_data_bytes, tensor_bytes
from pargnn.algorithms.grid.attention import grid_attend, stored_edges
from pargnn.algorithms.grid.dense import GridDenseSteps
from pargnn.algorithms.grid.summa import Operator, build_operator, summa_spmm
from pargnn.algorithms.paired import paired_spmm
from pargnn.algorithms.prepare import BuildOptions, PreparedGraph, in_run_order, rows_data
from pargnn.dist.comm import Communicator
from pargnn.layout.mesh import ProcessGrid
from pargnn.layout.offsets import GridLayout
from pargnn.layout.places import GridPlace
from pargnn.layout.spec import GridSpec


class GridAlgorithm(GridDenseSteps):
    """The :class:`~pargnn.algorithms.contract.Algorithm` of a ``Pr x Pc x Pl`` grid.

    Args:
        place, data, num_classes, global_counts, original_ids: as :class:`GridDenseSteps`.
        at, a: its share of ``A^T`` (forward) and ``A`` (backward).
    """

    def __init__(self, place: GridPlace, at: Operator, a: Operator, data: LocalData,
                 num_classes: int, global_counts: dict[str, int],
                 original_ids: np.ndarray | None = None) -> None:
        super().__init__(place, data, num_classes, global_counts, original_ids)
        self.at, self.a = at, a

    @property
    def local_nnz(self) -> int:
        return sum(block.nnz for block in self.at.owned.values())

    def stored_bytes(self) -> int:
        blocks = list(self.at.owned.values()) + list(self.a.owned.values())
        return sum(tensor_bytes(b.indices, b.values) for b in blocks) + local_data_bytes(
            self._data)

    def aggregate(self, h: Tensor) -> Tensor:
        return paired_spmm(h, partial(summa_spmm, self.place, self.at),
                           partial(summa_spmm, self.place, self.a), self.place.comm.log)

    @cached_property
    def stored_edges(self) -> list[tuple[int, StoredEdges]]:
        """The edges of the stored blocks of ``A^T`` (built on the first attention step)."""
        return stored_edges(self.place, self.at, self.original_ids)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        step = AttentionStep(heads, head_width, negative_slope, dropout, key)
        return grid_attend(self.place, self.at, self.stored_edges, h, s_src, s_dst, step)


def build_grid(prepared: PreparedGraph, spec: GridSpec, options: BuildOptions,
               comm: Communicator) -> GridAlgorithm:
    """This rank's :class:`GridAlgorithm` for a 1D, 2D or 3D grid."""
    ordered = in_run_order(prepared, options)
    rows, cols, layers = spec.shape
    layout = GridLayout(prepared.n, rows, cols, layers)
    place = GridPlace(ProcessGrid(spec, options.device.type), comm, layout, options.device,
                      options.dtype)
    data = rows_data(ordered, place.rows, place.cols(ordered.features.shape[1]), options)
    return GridAlgorithm(place, at=build_operator(ordered.at, place),
                         a=build_operator(ordered.a, place), data=data,
                         num_classes=ordered.num_classes, global_counts=ordered.split_counts(),
                         original_ids=ordered.reordered_ids)
