"""The input rows a batch reads, gathered where the model runs.

On CPU the rows come straight from the feature array, which a spawned rank maps from the run's
stored copy (:mod:`pargnn.algorithms.stored`): a rank reads only the pages of the rows its
batches need, and the ranks of one machine share those pages. On CUDA the whole array sits in
pinned host memory; a batch's rows are gathered into a pinned staging buffer and sent with one
non-blocking copy, which overlaps the device's work still queued from the step before (the
zero-copy alternative, the GPU reading the rows over the bus itself, is measured against both
in ``benchmarks/minibatch``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pargnn.ops.sparse import writable_array


class FeatureRows:
    """Gathers rows of ``features`` to ``device`` in ``dtype``.

    Args:
        features: the ``(n, f)`` input features in run order (an array or a mapped file).
        dtype: the run's precision.
        device: where the model runs.
    """

    def __init__(self, features: np.ndarray, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype, self.device = dtype, device
        self.width = int(features.shape[1])
        self._array = features
        self._pinned: Tensor | None = None
        self._staging: Tensor | None = None
        self._sent: torch.cuda.Event | None = None  # the last copy out of the staging buffer
        if device.type == "cuda":
            host = torch.from_numpy(writable_array(features)).to(dtype)
            self._pinned = host.pin_memory()

    def stored_bytes(self) -> int:
        """Bytes this process holds of the features beyond a mapped file's pages."""
        return 0 if self._pinned is None else self._pinned.numel() * self._pinned.element_size()

    def gather(self, ids: Tensor) -> Tensor:
        """The rows ``ids`` (int64, on any device), ``(len(ids), f)`` on the device."""
        ids = ids.cpu()
        if self._pinned is None:
            rows = np.take(self._array, ids.numpy(), axis=0)
            return torch.from_numpy(rows).to(device=self.device, dtype=self.dtype)
        if self._sent is not None:  # the buffer is rewritten only once its last copy is done
            self._sent.synchronize()
        staging = self._staging_rows(int(ids.shape[0]))
        torch.index_select(self._pinned, 0, ids, out=staging)
        sent = staging.to(self.device, non_blocking=True)
        self._sent = torch.cuda.Event()
        self._sent.record()
        return sent

    def _staging_rows(self, rows: int) -> Tensor:
        """A pinned ``(rows, f)`` buffer, grown as batches need."""
        if self._staging is None or self._staging.shape[0] < rows:
            self._staging = torch.empty((max(rows, 1), self.width), dtype=self.dtype).pin_memory()
        return self._staging[:rows]
