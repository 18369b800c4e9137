"""The validated graph container every other part of pargnn reads.

A :class:`Graph` is checked once, when it is built, so that the training code and the
distributed algorithms can trust it: a bad index or a NaN feature found here is a clear message
naming the problem; found inside an SpMM it would be a crash or a silently wrong model.

Conventions
-----------
* ``A[i, j] != 0`` is a directed edge ``i -> j``: row ``i`` of the CSR holds the out-edges of
  ``i``. A GCN layer aggregates ``Z = A^T H``, so vertex ``j`` receives from its in-neighbours.
  Undirected graphs store both directions.
* Indices are ``int32`` where they fit (half the memory of ``int64``) and ``int64`` otherwise;
  ``indptr`` and ``indices`` always share one dtype, as torch's CSR tensors require.
* ``labels[v] == -1`` marks a vertex without a label (CiteSeer has some); such a vertex may not
  appear in any mask.
* The train split may not be empty: a graph nothing can be trained on is refused here, whichever
  loader built it, with a message saying what would fix it. Empty validation and test splits
  are allowed (the trainer reports their metrics as null).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from pargnn.errors import GraphError

INT32_MAX = np.iinfo(np.int32).max
MASK_NAMES: tuple[str, ...] = ("train_mask", "val_mask", "test_mask")


def index_dtype(n: int, nnz: int) -> type[np.signedinteger]:
    """The narrowest index dtype (int32 or int64) that holds vertex ids and edge offsets."""
    return np.int32 if max(n, nnz) <= INT32_MAX else np.int64


@dataclass(frozen=True, eq=False)
class Graph:
    """A directed graph with vertex features, labels and a train/val/test split.

    Args:
        name: a short name for reports (``"cora"``, ``"rmat-s17"``).
        indptr: CSR row pointer, shape ``(n + 1,)``.
        indices: CSR column indices, shape ``(nnz,)``; each in ``[0, n)``.
        features: vertex features, shape ``(n, f)``, float32, finite.
        labels: class per vertex, shape ``(n,)``, int64 in ``[-1, num_classes)``.
        train_mask, val_mask, test_mask: boolean, shape ``(n,)``, pairwise disjoint, holding
            labelled vertices only; ``train_mask`` selects at least one vertex.
        weights: optional edge weights, shape ``(nnz,)``, float32; ``None`` means all ones.
        num_classes: defaults to ``labels.max() + 1``.

    Construction converts dtypes where it is lossless (int64 indices to int32 when they fit,
    float64 features to float32) and raises :class:`~pargnn.errors.GraphError` for anything else.
    """

    name: str
    indptr: np.ndarray
    indices: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    weights: np.ndarray | None = None
    num_classes: int = -1
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate_and_normalise(self)

    # -- sizes -------------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    # -- views ---------------------------------------------------------------------------------
    def adjacency(self) -> sp.csr_array:
        """The adjacency as a scipy CSR array sharing this graph's buffers."""
        data = self.weights if self.weights is not None else np.ones(self.num_edges, np.float32)
        n = self.num_nodes
        return sp.csr_array((data, self.indices, self.indptr), shape=(n, n))

    def in_degrees(self) -> np.ndarray:
        return np.bincount(self.indices, minlength=self.num_nodes)

    def out_degrees(self) -> np.ndarray:
        return np.diff(self.indptr)

    def summary(self) -> dict[str, object]:
        """Sizes and split counts, for reports and the CLI."""
        return {
            "name": self.name,
            "nodes": self.num_nodes,
            "edges": self.num_edges,
            "features": self.num_features,
            "classes": self.num_classes,
            "train": int(self.train_mask.sum()),
            "val": int(self.val_mask.sum()),
            "test": int(self.test_mask.sum()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return "Graph(" + ", ".join(f"{k}={v}" for k, v in s.items()) + ")"

    # -- construction helpers ------------------------------------------------------------------
    @classmethod
    def from_parts(
        cls,
        name: str,
        csr: tuple[np.ndarray, np.ndarray, np.ndarray | None],
        features: np.ndarray,
        labels: np.ndarray,
        masks: tuple[np.ndarray, np.ndarray, np.ndarray],
        *,
        num_classes: int = -1,
        meta: dict[str, object] | None = None,
    ) -> Graph:
        """Build from the triples the loaders and generators produce.

        ``csr`` is ``(indptr, indices, weights)`` as the loaders' ``csr_from_edges`` returns it
        (``weights`` ``None`` for an unweighted graph); ``masks`` is ``(train, val, test)`` as
        :func:`~pargnn.graph.splits.random_split` returns it.
        """
        indptr, indices, weights = csr
        train, val, test = masks
        return cls(
            name=name, indptr=indptr, indices=indices, weights=weights, features=features,
            labels=labels, train_mask=train, val_mask=val, test_mask=test,
            num_classes=num_classes, meta={} if meta is None else meta,
        )  # fmt: skip

    @classmethod
    def from_scipy(cls, name: str, adjacency: sp.sparray | sp.spmatrix, **kwargs: object) -> Graph:
        """Build from any scipy sparse matrix; duplicates are summed, explicit zeros dropped.

        Edge weights are kept only when they are not all one.
        """
        csr = sp.csr_array(adjacency)
        if csr.ndim != 2 or csr.shape[0] != csr.shape[1]:
            raise GraphError(f"{name}: the adjacency must be square (n x n), got {csr.shape}")
        csr.sum_duplicates()
        csr.eliminate_zeros()
        csr.sort_indices()
        data = np.asarray(csr.data, dtype=np.float32)
        weights = None if np.all(data == 1.0) else data
        return cls(
            name=name,
            indptr=csr.indptr,
            indices=csr.indices,
            weights=weights,
            **kwargs,  # type: ignore[arg-type]
        )


def _set(graph: Graph, name: str, value: object) -> None:
    object.__setattr__(graph, name, value)


def _validate_and_normalise(g: Graph) -> None:
    """Check every invariant of :class:`Graph`, converting dtypes where that loses nothing."""
    who = g.name or "graph"
    indptr = np.asarray(g.indptr)
    indices = np.asarray(g.indices)
    if indptr.ndim != 1 or indptr.shape[0] < 1:
        raise GraphError(f"{who}: indptr must be a 1-D array of length n + 1")
    n = indptr.shape[0] - 1
    if n == 0:
        raise GraphError(
            f"{who}: the graph is empty (0 vertices); a graph needs at least one vertex"
        )
    for arr, what in ((indptr, "indptr"), (indices, "indices")):
        if not np.issubdtype(arr.dtype, np.integer):
            raise GraphError(f"{who}: {what} must hold integers, got dtype {arr.dtype}")
    if indices.ndim != 1:
        raise GraphError(f"{who}: indices must be 1-D, got shape {indices.shape}")
    nnz = indices.shape[0]
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) < 0):
        raise GraphError(
            f"{who}: indptr must start at 0, never decrease and end at nnz={nnz} "
            f"(starts at {indptr[0]}, ends at {indptr[-1]})"
        )
    if nnz and (indices.min() < 0 or indices.max() >= n):
        bad = int(indices.min()) if indices.min() < 0 else int(indices.max())
        raise GraphError(
            f"{who}: edge index {bad} is out of range for a graph with {n} vertices "
            f"(valid ids are 0..{n - 1})"
        )
    idx = index_dtype(n, nnz)
    _set(g, "indptr", np.ascontiguousarray(indptr, dtype=idx))
    _set(g, "indices", np.ascontiguousarray(indices, dtype=idx))

    if g.weights is not None:
        w = np.asarray(g.weights)
        if w.shape != (nnz,):
            raise GraphError(f"{who}: weights must have shape ({nnz},), got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise GraphError(f"{who}: edge weights contain NaN or inf")
        _set(g, "weights", np.ascontiguousarray(w, dtype=np.float32))

    _validate_features(g, who, n)
    _validate_labels_and_masks(g, who, n)


def _validate_features(g: Graph, who: str, n: int) -> None:
    x = np.asarray(g.features)
    if x.ndim != 2 or x.shape[0] != n:
        raise GraphError(f"{who}: features must have shape ({n}, f), got {x.shape}")
    if x.shape[1] == 0:
        raise GraphError(f"{who}: features have zero columns; give at least one feature")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
            or x.dtype == np.bool_):
        raise GraphError(f"{who}: features must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise GraphError(
            f"{who}: features contain NaN or inf ({int((~finite).sum())} entries; the first at "
            f"vertex {row}, feature {col}); clean or impute them before training"
        )
    _set(g, "features", x)


def _validate_labels_and_masks(g: Graph, who: str, n: int) -> None:
    _validate_labels(g, who, n)
    masks = {name: _validate_mask(g, who, n, name) for name in MASK_NAMES}
    pairs = (("train_mask", "val_mask"), ("train_mask", "test_mask"), ("val_mask", "test_mask"))
    for a, b in pairs:
        both = masks[a] & masks[b]
        if both.any():
            raise GraphError(
                f"{who}: {a} and {b} overlap in {int(both.sum())} vertices "
                f"(e.g. vertex {int(np.argmax(both))}); a vertex may be in one split only"
            )
    if not masks["train_mask"].any():
        raise GraphError(_empty_train_message(g, who, n))


def _validate_labels(g: Graph, who: str, n: int) -> None:
    y = np.asarray(g.labels)
    if y.shape != (n,):
        raise GraphError(f"{who}: labels must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise GraphError(f"{who}: labels must be integers, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.int64)
    k = g.num_classes if g.num_classes >= 0 else int(y.max()) + 1
    if k < 1:
        raise GraphError(
            f"{who}: no vertex has a label (every label is -1); label at least one vertex, "
            f"so that there is a class and a training vertex"
        )
    if y.min() < -1 or y.max() >= k:
        bad = int(y.min()) if y.min() < -1 else int(y.max())
        raise GraphError(
            f"{who}: label {bad} is out of range for {k} classes "
            f"(valid labels are 0..{k - 1}, or -1 for an unlabelled vertex)"
        )
    _set(g, "labels", y)
    _set(g, "num_classes", k)


def _validate_mask(g: Graph, who: str, n: int, name: str) -> np.ndarray:
    m = np.asarray(getattr(g, name))
    if m.shape != (n,):
        raise GraphError(f"{who}: {name} must have shape ({n},), got {m.shape}")
    if m.dtype != np.bool_:
        raise GraphError(f"{who}: {name} must be boolean, got dtype {m.dtype}")
    m = np.ascontiguousarray(m)
    _set(g, name, m)
    unlabelled = m & (g.labels < 0)
    if unlabelled.any():
        raise GraphError(
            f"{who}: {name} contains {int(unlabelled.sum())} unlabelled vertices "
            f"(label -1), e.g. vertex {int(np.argmax(unlabelled))}"
        )
    return m


def _empty_train_message(g: Graph, who: str, n: int) -> str:
    """Why a graph without training vertices is refused, and what would fix it."""
    labelled = int((g.labels >= 0).sum())
    split = str(g.meta.get("split", ""))
    fix = (
        "label more vertices or raise the train fraction"
        if split.startswith("random")
        else "give a train_mask that selects at least one labelled vertex"
    )
    how = f"; split: {split}" if split else ""
    return (
        f"{who}: the train split is empty (train_mask selects none of the {n} vertices, "
        f"{labelled} of them labelled{how}); training needs at least one training vertex: "
        f"{fix}. Empty validation and test splits are allowed"
    )
