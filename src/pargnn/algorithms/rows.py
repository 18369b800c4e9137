"""The vertex rows a distributed layout holds, and the steps that only read them.

Every distributed algorithm keeps a block of the vertex data (its rows, and on a grid with a
feature split its columns), the global size of each split (the loss is a mean over the whole
graph) and, when the run reordered the vertices, their ids in the input graph (attention
dropout is keyed by them). Dropout of a local block and the rows a full-graph operator writes
need nothing more; the layouts differ only in which columns a process holds
(:meth:`RowBlock.columns`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pargnn.algorithms.contract import LocalData
from pargnn.ops.dropout import keyed_dropout


class RowBlock:
    """A process's block of the vertex data.

    Args:
        data: its rows (and columns) of the features, labels, masks and ids.
        num_classes: width of the logits.
        global_counts: number of vertices in each split over the whole graph.
        original_ids: the input graph's id of the vertex at each position, when the run
            reorders the vertices (``None``: position is id); keys attention dropout.
    """

    def __init__(self, data: LocalData, num_classes: int, global_counts: dict[str, int],
                 original_ids: np.ndarray | None = None) -> None:
        self._data = data
        self.num_classes = num_classes
        self.global_counts = global_counts
        self.original_ids = original_ids

    @property
    def data(self) -> LocalData:
        return self._data

    def columns(self, width: int) -> tuple[int, int]:
        """Every column (a layout that splits the features narrows it)."""
        return 0, width

    def destinations(self, h: Tensor) -> Tensor:
        """A full-graph operator writes every row it reads."""
        return h

    def dropout(self, h: Tensor, p: float, key: int, width: int) -> Tensor:
        lo, hi = self.columns(width)
        columns = torch.arange(lo, hi, device=h.device)
        return keyed_dropout(h, p, key, self._data.row_ids, columns)
