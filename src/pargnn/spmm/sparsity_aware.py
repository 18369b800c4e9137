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

The dense steps are those of the 1D grid (:class:`~pargnn.spmm.grid.GridDenseSteps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.dist.comm import Communicator, ProcessGroup
from pargnn.nn.dropout import keyed_dropout
from pargnn.spmm.attention import EdgeStructure, edge_scores, edge_softmax, weighted_spmm
from pargnn.spmm.block_attention import edge_codes, vertex_ids
from pargnn.spmm.contract import LocalData, local_data_bytes, tensor_bytes
from pargnn.spmm.grid import GridDenseSteps
from pargnn.spmm.grid_attention import BACKWARD, FORWARD
from pargnn.spmm.local import SparseOperator, spmm
from pargnn.spmm.summa import GridPlace


@dataclass(frozen=True)
class Halo:
    """The rows this process exchanges with every other, fixed at setup.

    ``send_index`` holds the local rows it sends, grouped by receiver; ``send_counts[k]`` and
    ``recv_counts[k]`` are the rows it sends to and receives from process ``k``; ``active`` is
    whether any process of the run exchanges anything (every process knows it).
    """

    send_index: Tensor
    send_counts: list[int]
    recv_counts: list[int]
    active: bool
    group: ProcessGroup | None
    size: int
    position: int

    @property
    def rows(self) -> int:
        """Halo rows this process receives."""
        return sum(self.recv_counts)


def _exchange_counts(comm: Communicator, counts: list[int], group: ProcessGroup | None,
                     size: int, position: int) -> list[int]:
    mine = torch.tensor(counts, dtype=torch.int64)
    theirs = torch.empty_like(mine)
    comm.all_to_all(theirs, mine, [1] * size, [1] * size, group, size, position)
    return [int(c) for c in theirs.tolist()]


def plan_halo(place: GridPlace, at_rows: sp.csr_array) -> tuple[Halo, sp.csr_array, np.ndarray]:
    """This process's halo on the 1D grid and its block of ``A^T`` over compact columns.

    Args:
        at_rows: rows ``B[i]`` of ``A^T`` (partition order) with all ``n`` columns.
    """
    return find_halo(place.comm, at_rows, place.layout.vertex_offsets, place.i,
                     place.grid.group("row"), place.device)


def find_halo(comm: Communicator, at_rows: sp.csr_array, offsets: np.ndarray, me: int,
              group: ProcessGroup | None, device: torch.device
              ) -> tuple[Halo, sp.csr_array, np.ndarray]:
    """The halo of member ``me`` of ``group``, whose member ``k`` owns the vertices
    ``[offsets[k], offsets[k + 1])``, and its rows of ``A^T`` over compact columns.

    Args:
        at_rows: this member's rows of ``A^T`` (partition order), ``n`` columns wide; its
            non-zero columns outside its own range are the rows it will receive.

    Returns:
        the halo, the compact block (``|B[me]| x (|B[me]| + halo)``), and the global position
        of each compact column (own rows first, then the halo grouped by owner).
    """
    size = len(offsets) - 1
    lo, hi = int(offsets[me]), int(offsets[me + 1])
    columns = np.unique(at_rows.indices)
    owner = np.searchsorted(offsets, columns, side="right") - 1
    foreign = columns[owner != me]
    needed = [foreign[owner[owner != me] == k] for k in range(size)]  # sorted per owner
    recv_counts = [len(rows) for rows in needed]
    send_counts = _exchange_counts(comm, recv_counts, group, size, me)
    wanted = torch.from_numpy(np.concatenate(needed).astype(np.int64))
    asked = torch.empty(sum(send_counts), dtype=torch.int64)
    comm.all_to_all(asked, wanted, send_counts, recv_counts, group, size, me)
    total = torch.tensor([sum(recv_counts)], dtype=torch.int64)
    comm.all_reduce(total, group, size)
    halo = Halo((asked - lo).to(device), send_counts, recv_counts, int(total[0]) > 0,
                group, size, me)
    positions = np.concatenate([np.arange(lo, hi), np.concatenate(needed)]).astype(np.int64)
    compact_of = np.full(int(offsets[-1]), -1, dtype=np.int64)
    compact_of[positions] = np.arange(len(positions))
    compact = sp.csr_array((at_rows.data, compact_of[at_rows.indices], at_rows.indptr),
                           shape=(hi - lo, len(positions)))
    compact.sort_indices()
    return halo, compact, positions


def send_halo(x: Tensor, halo: Halo, comm: Communicator) -> Tensor:
    """``[X; the halo rows of X from their owners]`` (one all-to-all, if any process of the
    group exchanges anything)."""
    received = x.new_empty(halo.rows, x.shape[1])
    if halo.active:
        comm.all_to_all(received, x[halo.send_index].contiguous(), halo.recv_counts,
                        halo.send_counts, halo.group, halo.size, halo.position)
    return torch.cat([x, received])


def return_halo(grad: Tensor, rows: int, halo: Halo, comm: Communicator) -> Tensor:
    """The adjoint of :func:`send_halo`: the first ``rows`` rows of ``grad`` plus the
    gradients of this process's rows that the others received, sent back to it."""
    own = grad[:rows].clone()
    returned = grad.new_empty(len(halo.send_index), grad.shape[1])
    if halo.active:
        comm.all_to_all(returned, grad[rows:].contiguous(), halo.send_counts,
                        halo.recv_counts, halo.group, halo.size, halo.position)
        own.index_add_(0, halo.send_index, returned)
    return own


class _HaloExchange(torch.autograd.Function):
    """:func:`send_halo`; backward, :func:`return_halo` logged under ``phase``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, halo: Halo, comm: Communicator, phase: str) -> Tensor:
        ctx.halo, ctx.comm, ctx.phase, ctx.rows = halo, comm, phase, x.shape[0]
        return send_halo(x, halo, comm)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        with ctx.comm.log.phase(ctx.phase):
            return return_halo(grad, ctx.rows, ctx.halo, ctx.comm), None, None, None


def compact_state_bytes(operator: SparseOperator, halo: Halo, data: LocalData) -> int:
    """Bytes a sparsity-aware process holds: its compact block in both orientations, the
    halo's send list and its vertex data."""
    sparse = sum(tensor_bytes(m.crow_indices(), m.col_indices(), m.values())
                 for m in (operator.a, operator.at))
    return sparse + tensor_bytes(halo.send_index) + local_data_bytes(data)


def exchange_halo(x: Tensor, halo: Halo, comm: Communicator, backward_phase: str) -> Tensor:
    """``X[B[i]]`` followed by the halo rows (compact column order), differentiable."""
    result: Tensor = _HaloExchange.apply(x, halo, comm, backward_phase)
    return result


class SparsityAware1D(GridDenseSteps):
    """The :class:`~pargnn.spmm.contract.Algorithm` of sparsity-aware 1D.

    Args:
        place: a ``P x 1 x 1`` grid whose layout has the partition's offsets.
        halo: from :func:`plan_halo`.
        compact: this process's rows of ``A^T`` over compact columns.
        positions: global position of each compact column.
        data, num_classes, global_counts, original_ids: as
            :class:`~pargnn.spmm.grid.GridDenseSteps`.
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
        with comm.log.phase("forward_aggregation"):
            extended = exchange_halo(h, self.halo, comm, "backward_aggregation")
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
        with comm.log.phase(FORWARD):
            extended = exchange_halo(torch.cat([h, s_src], dim=1), self.halo, comm, BACKWARD)
        g, sources = extended[:, : h.shape[1]], extended[:, h.shape[1]:]
        edges = self.edges
        alpha = edge_softmax(edges, edge_scores(edges, sources, s_dst, negative_slope))
        if dropout > 0:
            alpha = keyed_dropout(alpha, dropout, key, self.edge_keys,
                                  torch.arange(heads, device=alpha.device))
        out = weighted_spmm(edges, alpha, g.contiguous().view(g.shape[0], heads, head_width))
        return out.reshape(h.shape[0], -1)

    def at_blocks(self) -> list[SparseOperator]:
        """This process's block of ``A^T``."""
        return [self.operator]

    def stored_bytes(self) -> int:
        """Bytes of the graph this process holds: its block (both orientations), the halo's
        send list and its vertex data."""
        return compact_state_bytes(self.operator, self.halo, self._data)
