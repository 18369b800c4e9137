"""An adapter from PyTorch Geometric's ``Data`` (or anything shaped like it) to a Graph.

Why duck typing: the adapter reads only ``edge_index``, ``x`` and ``y`` (plus optional masks,
``edge_weight`` and ``num_nodes``), so it also takes DGL-converted or hand-built objects, and
torch-geometric stays an optional dependency (``pip install 'pargnn[pyg]'``) that is imported
only to improve an error message.

Conventions: ``edge_index[0]`` is the source and ``edge_index[1]`` the target (PyG's
``flow="source_to_target"``), so row ``i`` of our CSR holds the out-edges of ``i`` and a GCN
aggregating ``A^T H`` matches PyG's message passing. Duplicate edges collapse (weights summed),
self-loops are kept as given. Without masks the split is
:func:`~pargnn.graph.splits.random_split` (60/20/20, seed 0). Masks of shape ``(n, k)`` (several
splits, as WikiCS ships) use split ``split_index``. Labels of shape ``(n, 1)`` are squeezed;
multi-label ``(n, c)`` targets are refused, since pargnn trains single-label classifiers.

The vertex count ``n`` is the number of rows of ``x``; a ``num_nodes`` that says otherwise, a
``y`` of another length, or an ``edge_index`` entry outside ``0..n-1`` is a
:class:`~pargnn.errors.DatasetError` naming the attribute, the position and the valid range,
raised before anything is sized from the edges. Given masks must select at least one training
vertex (:class:`~pargnn.graph.Graph` refuses an empty train split; empty validation and test
masks are allowed).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.loaders.edgelist import csr_from_edges
from pargnn.graph.splits import random_split

MASK_NAMES: tuple[str, ...] = ("train_mask", "val_mask", "test_mask")
PIP_HINT = "pip install 'pargnn[pyg]'"


def _numpy(value: Any) -> np.ndarray:
    """A tensor (on any device) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _pyg_missing_hint() -> str:
    if importlib.util.find_spec("torch_geometric") is None:
        return f"; torch-geometric is not installed ({PIP_HINT})"
    return ""


def _required(data: Any, name: str) -> np.ndarray:
    value = getattr(data, name, None)
    if value is None:
        raise DatasetError(
            f"from_pyg: the object ({type(data).__name__}) has no {name!r}; it needs edge_index "
            f"(2 x E), x (n x f) and y (n) like torch_geometric.data.Data{_pyg_missing_hint()}"
        )
    return _numpy(value)


def _labels(y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise DatasetError(
            f"from_pyg: y must hold one class per vertex, shape ({n},), got {y.shape}; "
            f"multi-label targets are not supported"
        )
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y) & (y == np.round(y))):
            raise DatasetError("from_pyg: y holds non-integer values; give class ids")
        y = y.astype(np.int64)
    return y


def _masks(data: Any, y: np.ndarray, seed: int,
           split_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    given = {m: getattr(data, m, None) for m in MASK_NAMES}
    if all(v is None for v in given.values()):
        return random_split(y, seed=seed)
    out = []
    for name, value in given.items():
        m = np.zeros(y.shape[0], dtype=np.bool_) if value is None else _numpy(value)
        if m.ndim == 2:
            if not 0 <= split_index < m.shape[1]:
                raise DatasetError(
                    f"from_pyg: {name} holds {m.shape[1]} splits; split_index={split_index} "
                    f"is out of range"
                )
            m = m[:, split_index]
        out.append(m.astype(np.bool_) if m.dtype != np.bool_ and np.isin(m, (0, 1)).all() else m)
    return out[0], out[1], out[2]


def _edges(data: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    ei = _required(data, "edge_index")
    if ei.ndim != 2 or ei.shape[0] != 2 or not np.issubdtype(ei.dtype, np.integer):
        raise DatasetError(f"from_pyg: edge_index must be an integer 2 x E array, got {ei.shape}")
    bad = (ei < 0) | (ei >= n)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(
            f"from_pyg: edge_index[{row}, {col}] names vertex {int(ei[row, col])}, out of range "
            f"for {n} vertices (valid ids are 0..{n - 1}; n is the number of rows of x)"
        )
    w = getattr(data, "edge_weight", None)
    weights = None if w is None else _numpy(w).reshape(-1)
    return csr_from_edges(ei[0], ei[1], n, weights)


def _num_nodes(data: Any, x: np.ndarray) -> int:
    """The rows of ``x``, checked against ``num_nodes`` where the object states one."""
    n = int(x.shape[0])
    stated = getattr(data, "num_nodes", None)
    if isinstance(stated, (int, np.integer)) and int(stated) != n:
        raise DatasetError(
            f"from_pyg: num_nodes is {int(stated)} but x has {n} rows (one per vertex); "
            f"they must agree"
        )
    return n


def from_pyg(data: Any, name: str = "pyg", *, seed: int = 0, split_index: int = 0) -> Graph:
    """Convert a ``torch_geometric.data.Data`` (or a duck-typed equivalent) to a Graph.

    Args:
        data: an object with ``edge_index`` (2 x E, row 0 = source), ``x`` (n x f) and ``y``;
            optionally ``train_mask``/``val_mask``/``test_mask``, ``edge_weight`` and
            ``num_nodes``. Tensors may live on any device.
        name: the graph's name.
        seed: seed of the random split used when no mask is given.
        split_index: which column of 2-D masks to use.
    """
    x = _required(data, "x")
    if x.ndim != 2:
        raise DatasetError(f"from_pyg: x must be 2-D (n x f), got shape {x.shape}")
    n = _num_nodes(data, x)
    y = _labels(_required(data, "y"), n)
    csr = _edges(data, n)
    masks = _masks(data, y, seed, split_index)
    return Graph.from_parts(name, csr, x, y, masks, meta={"format": "pyg"})
