"""Sparsity-aware 1D: each process receives only the rows of ``H`` its block of ``A^T`` touches.

CAGNET's 1D broadcasts every block ``H[B[s]]`` to every process, although process ``i`` needs
only the rows ``u`` with a non-zero in ``A^T[B[i], u]``: its *halo*. With a partition that
keeps most edges inside parts (METIS, :mod:`pargnn.graph.partition`), the halo is a small
fraction of ``n``. Here process ``i`` holds part ``B[i]`` (a contiguous range after the
partition's permutation; parts may differ in size) and:

* **at setup** finds its halo (the distinct columns of its rows of ``A^T`` outside ``B[i]``,
  grouped by owner), tells each owner which of its rows it needs (one all-to-all of counts,
  one of indices), and renumbers its block of ``A^T`` over the *compact* columns
  ``[own rows, halo rows]``;
* **each aggregation** ``Y[B[i]] = A^T[B[i], :] H`` sends exactly the halo rows with one
  ``all_to_all_single`` (variable splits), then multiplies the compact block by
  ``[H[B[i]]; halo]`` locally. The backward pass is the adjoint: the compact block's transpose
  times ``dY``, whose halo rows go back to their owners with the reverse all-to-all and are
  added there. So training sends the same halo in both directions and needs no copy of ``A``;
* **graph attention** is local once the halo is there: a vertex's in-edges all live with it,
  so the softmax needs no reduction. The halo exchange carries ``[G, s_src]`` together
  (the source scores of the halo vertices ride along with their features).

The dense steps are those of the 1D grid (:class:`~pargnn.algorithms.grid.dense.GridDenseSteps`).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.algorithms.block_attention import edge_codes, vertex_ids
from pargnn.algorithms.contract import LocalData
from pargnn.algorithms.grid.dense import GridDenseSteps
from pargnn.algorithms.prepare import BuildOptions, PreparedGraph, rows_data, shared_partition
from pargnn.algorithms.sparsity_aware.halo import (
    Halo,
    compact_state_bytes,
    exchange_halo,
    find_halo,
)
from pargnn.dist import phases
from pargnn.dist.comm import Communicator
from pargnn.layout.mesh import ProcessGrid
from pargnn.layout.offsets import GridLayout
from pargnn.layout.places import GridPlace
from pargnn.layout.spec import GridSpec
from pargnn.ops.attention import EdgeStructure, edge_scores, edge_softmax, weighted_spmm
from pargnn.ops.dropout import keyed_dropout
from pargnn.ops.sparse import SparseOperator, spmm


def plan_halo(place: GridPlace, at_rows: sp.csr_array) -> tuple[Halo, sp.csr_array, np.ndarray]:
    """This process's halo on the 1D grid and its block of ``A^T`` over compact columns.

    Args:
        at_rows: rows ``B[i]`` of ``A^T`` (partition order) with all ``n`` columns.
    """
    return find_halo(place.comm, at_rows, place.layout.vertex_offsets, place.i,
                     place.grid.group("row"), place.device)


class SparsityAware1D(GridDenseSteps):
    """The :class:`~pargnn.algorithms.contract.Algorithm` of sparsity-aware 1D.

    Args:
        place: a ``P x 1 x 1`` grid whose layout has the partition's offsets.
        halo: from :func:`plan_halo`.
        compact: this process's rows of ``A^T`` over compact columns.
        positions: global position of each compact column.
        data, num_classes, global_counts, original_ids: as
            :class:`~pargnn.algorithms.grid.dense.GridDenseSteps`.
    """

    def __init__(self, place: GridPlace, halo: Halo, compact: sp.csr_array,
                 positions: np.ndarray, data: LocalData, num_classes: int,
                 global_counts: dict[str, int], original_ids: np.ndarray | None = None) -> None:
        super().__init__(place, data, num_classes, global_counts, original_ids)
        self.halo = halo
        self.positions = positions
        # spmm(op, x) computes op.a^T x: store the compact block's transpose as ``a``
        self.operator = SparseOperator.from_scipy(sp.csr_array(compact.T), place.dtype,
                                                  place.device)

    def aggregate(self, h: Tensor) -> Tensor:
        comm = self.place.comm
        with comm.log.phase(phases.FORWARD_AGGREGATION):
            extended = exchange_halo(h, self.halo, comm, phases.BACKWARD_AGGREGATION)
        return spmm(self.operator, extended)

    @cached_property
    def edges(self) -> EdgeStructure:
        """The edges of this process's block (destination-major, compact sources)."""
        at = self.operator.at
        return EdgeStructure.from_csr(at.crow_indices(), at.col_indices(), int(at.shape[1]))

    @cached_property
    def edge_keys(self) -> Tensor:
        """Global keys of the edges for attention dropout (original ids)."""
        ids = vertex_ids(self.original_ids, 0, self.place.layout.n, self.place.device)
        columns = ids[torch.from_numpy(self.positions).to(self.place.device)]
        return edge_codes(self.edges, self._data.row_ids, columns, self.place.layout.n)

    def attend(self, h: Tensor, s_src: Tensor, s_dst: Tensor, *, heads: int, head_width: int,
               negative_slope: float, dropout: float, key: int) -> Tensor:
        comm = self.place.comm
        with comm.log.phase(phases.FORWARD_ATTENTION):
            extended = exchange_halo(torch.cat([h, s_src], dim=1), self.halo, comm,
                                     phases.BACKWARD_ATTENTION)
        g, sources = extended[:, : h.shape[1]], extended[:, h.shape[1]:]
        edges = self.edges
        alpha = edge_softmax(edges, edge_scores(edges, sources, s_dst, negative_slope))
        if dropout > 0:
            alpha = keyed_dropout(alpha, dropout, key, self.edge_keys,
                                  torch.arange(heads, device=alpha.device))
        out = weighted_spmm(edges, alpha, g.contiguous().view(g.shape[0], heads, head_width))
        return out.reshape(h.shape[0], -1)

    @property
    def local_nnz(self) -> int:
        return self.operator.nnz

    def stored_bytes(self) -> int:
        """Its block (both orientations), the halo's send list and its vertex data."""
        return compact_state_bytes(self.operator, self.halo, self._data)


def build_sparsity_aware(prepared: PreparedGraph, spec: GridSpec, options: BuildOptions,
                         comm: Communicator) -> SparsityAware1D:
    """This rank's :class:`SparsityAware1D`: partition, reorder, find the halo."""
    partition = shared_partition(prepared, options, spec.size, comm)
    ordered = prepared.reordered(partition.order)
    offsets = tuple(int(o) for o in partition.offsets)
    layout = GridLayout(prepared.n, spec.size, 1, 1, offsets=offsets)
    place = GridPlace(ProcessGrid(spec, options.device.type), comm, layout, options.device,
                      options.dtype)
    lo, hi = place.rows
    halo, compact, positions = plan_halo(place, sp.csr_array(ordered.at[lo:hi]))
    data = rows_data(ordered, place.rows, place.cols(ordered.features.shape[1]), options)
    return SparsityAware1D(place, halo, compact, positions, data=data,
                           num_classes=ordered.num_classes,
                           global_counts=ordered.split_counts(),
                           original_ids=ordered.reordered_ids)
