"""The halo exchange: each process receives exactly the rows of ``H`` its block of ``A^T``
touches, and sends back their gradients.

Process ``me`` of a group owns the vertex range ``[offsets[me], offsets[me + 1])``. At setup
(:func:`find_halo`) it finds the distinct columns of its rows of ``A^T`` outside its range
(its *halo*), grouped by owner, tells each owner which of its rows it needs (one all-to-all of
counts, one of indices), and renumbers its block over the *compact* columns
``[own rows, halo rows]``. Each exchange (:func:`send_halo`) is then one
``all_to_all_single`` with variable splits; its adjoint (:func:`return_halo`) sends the halo's
gradients back to their owners, who add them. sa1d runs it over all processes, sa1.5d within
each replica team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from pargnn.algorithms.contract import LocalData, local_data_bytes, tensor_bytes
from pargnn.dist.comm import Communicator, ProcessGroup
from pargnn.ops.sparse import SparseOperator


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
