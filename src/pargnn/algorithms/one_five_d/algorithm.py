"""The :class:`~pargnn.algorithms.contract.Algorithm` of CAGNET's 1.5D layout, and how a
rank builds it: the aggregation of :mod:`pargnn.algorithms.one_five_d.spmm`, attention of
:mod:`pargnn.algorithms.one_five_d.attention`, the dense steps of
:mod:`pargnn.algorithms.one_five_d.dense`."""

from __future__ import annotations

from functools import cached_property, partial

import numpy as np
from torch import Tensor

from pargnn.algorithms.block_attention import AttentionStep, StoredEdges
from pargnn.algorithms.contract import LocalData, local_data_bytes, tensor_bytes
from pargnn.algorithms.one_five_d.attention import replicated_attend, replicated_stored_edges
from pargnn.algorithms.one_five_d.dense import ReplicatedDenseSteps
from pargnn.algorithms.one_five_d.spmm import build_stage_blocks, replicated_spmm
from pargnn.algorithms.paired import paired_spmm
from pargnn.algorithms.prepare import BuildOptions, PreparedGraph, in_run_order, rows_data
from pargnn.dist.comm import Communicator
from pargnn.layout.mesh import ProcessGrid
from pargnn.layout.places import ReplicatedPlace
from pargnn.layout.spec import GridSpec
from pargnn.ops.blocks import SparseBlock


class OneFiveD(ReplicatedDenseSteps):
    """The :class:`~pargnn.algorithms.contract.Algorithm` of CAGNET's 1.5D layout.

    Args:
        place, data, num_classes, global_counts, original_ids: as
            :class:`ReplicatedDenseSteps`.
        at, a: the blocks ``S[B[i], B[s]]`` of ``A^T`` and ``A`` for this replica's stages.
    """

    def __init__(self, place: ReplicatedPlace, at: dict[int, SparseBlock],
                 a: dict[int, SparseBlock], data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        super().__init__(place, data, num_classes, global_counts, original_ids)
        self.at, self.a = at, a

    def aggregate(self, h: Tensor) -> Tensor:
        return paired_spmm(h, partial(replicated_spmm, self.place, self.at),
                           partial(replicated_spmm, self.place, self.a), self.place.comm.log)

    @cached_property
    def stored_edges(self) -> list[tuple[int, StoredEdges]]:
        """The edges of the stored blocks of ``A^T`` (built on the first attention step)."""
        return replicated_stored_edges(self.place, self.at, self.original_ids)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        step = AttentionStep(heads, head_width, negative_slope, dropout, key)
        return replicated_attend(self.place, self.at, self.stored_edges, h, s_src, s_dst, step)

    @property
    def local_nnz(self) -> int:
        return sum(block.nnz for block in self.at.values())

    def stored_bytes(self) -> int:
        blocks = list(self.at.values()) + list(self.a.values())
        return sum(tensor_bytes(b.indices, b.values) for b in blocks) + local_data_bytes(
            self._data)


def build_one_five_d(prepared: PreparedGraph, spec: GridSpec, options: BuildOptions,
                     comm: Communicator) -> OneFiveD:
    """This rank's :class:`OneFiveD` algorithm."""
    ordered = in_run_order(prepared, options)
    place = ReplicatedPlace(ProcessGrid(spec, options.device.type), comm, prepared.n,
                            options.device, options.dtype)
    data = rows_data(ordered, place.rows, place.cols(ordered.features.shape[1]), options)
    return OneFiveD(place, at=build_stage_blocks(ordered.at, place),
                    a=build_stage_blocks(ordered.a, place), data=data,
                    num_classes=ordered.num_classes, global_counts=ordered.split_counts(),
                    original_ids=ordered.reordered_ids)
