"""The Planetoid citation benchmarks (Cora, CiteSeer, PubMed) from their raw ``ind.*`` files.

Why a loader of our own: the raw files are Python-2 pickles, and an ordinary ``pickle.load``
runs whatever a (tampered or corrupt) file tells it to. :class:`RestrictedUnpickler` resolves
only the handful of numpy / scipy.sparse / builtin names these files hold and refuses anything
else before it can run; a refused name is a :class:`~pargnn.errors.DatasetError` naming the
``module.name`` and the file. A truncated or corrupt pickle is a ``DatasetError`` too.

The graph and split follow Kipf & Welling's ``load_data`` and PyG's ``read_planetoid_data``:

* ``x``/``y``: the labelled training vertices (the first ``len(y)`` vertices); ``allx``/``ally``:
  every non-test vertex; ``tx``/``ty``: the test vertices, row ``k`` belonging to vertex
  ``test.index[k]`` (the ids are not contiguous and not in order).
* train = ``range(len(y))``, val = ``range(len(y), len(y) + 500)``, test = the ids of
  ``test.index``. This is the public split of Yang et al. (2016): 20 vertices per class.
* The vertices are those the files list: ``n = max(len(allx) + len(tx), len(graph))``, the
  feature rows or the keys of the adjacency dict, whichever are more (the same ``n`` as PyG's
  ``max(len(allx), max(test.index) + 1)`` on Cora, CiteSeer and PubMed, whose dicts hold every
  vertex as a key). CiteSeer's dict lists 15 vertices that have no features and no label
  (isolated ids between test ids). PyG gives them zero features and label 0 (the argmax of a
  zero row); here they get zero features and label ``-1`` (unlabelled), so no metric counts
  them. They are not in ``test.index``, so the test mask is the same as PyG's either way. Any
  all-zero one-hot row in ``ally``/``ty`` is likewise read as unlabelled and kept out of the
  masks (none occur in Cora or CiteSeer).
* Files that disagree are refused before anything is sized from an id, with a
  :class:`~pargnn.errors.DatasetError` naming the file (and the line of ``test.index``) and the
  valid range: a test id outside ``len(allx)..n-1`` (it would collide with a non-test vertex or
  invent vertices; a wild id is one line of error, not a terabyte allocation), a test id listed
  twice, an adjacency key or neighbour outside ``0..n-1``, and an empty ``y`` (the public split
  would have no training vertex).
* Edges: ``i -> j`` for each ``j`` in ``graph[i]``, with duplicates and self-loops removed (as
  PyG does; the dict-of-lists holds a few of both). The dict already lists both directions.
* Features are the raw binary bag-of-words; row normalisation is the trainer's job.

Measured on the files in ``shared/datasets`` (nodes / directed edges / features / classes,
train / val / test):

* Cora: 2,708 / 10,556 / 1,433 / 7, 140 / 500 / 1,000.
* CiteSeer: 3,327 (3,312 labelled) / 9,104 / 3,703 / 6, 120 / 500 / 1,000.
"""

from __future__ import annotations

import os
import pickle
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import scipy.sparse as sp

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.loaders.edgelist import csr_from_edges

PLANETOID_PARTS: tuple[str, ...] = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
NUM_VAL = 500


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The only ``(module, name)`` pairs a Planetoid pickle may name, and what they resolve to.

    These are exactly the names the Cora / CiteSeer / PubMed files use (ndarrays, dtypes,
    csr_matrix, and a ``defaultdict(list)`` graph), under their old and new module paths.

    numpy's array reconstructor is taken from ``ndarray.__reduce__`` rather than imported by
    name: it lives in ``numpy.core`` on numpy 1 and ``numpy._core`` on numpy 2, and both
    spellings occur in pickles. scipy's old ``scipy.sparse.csr`` module path is mapped to the
    class directly instead of importing the deprecated module.
    """
    reconstruct = np.ndarray((0,)).__reduce__()[0]
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "defaultdict"): defaultdict,
        ("__builtin__", "list"): list,  # Python 2's name, as the files spell it
        ("builtins", "list"): list,
    }
    for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(core, "_reconstruct")] = reconstruct
    for module in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse"):
        allowed[(module, "csr_matrix")] = sp.csr_matrix
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy / scipy.sparse / builtin names in Planetoid."""

    def __init__(self, file: BinaryIO, source: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self._source}: refusing to load: the pickle names {module}.{name}, which is "
                f"not one of the numpy / scipy.sparse / builtin types a Planetoid file holds. "
                f"The file may have been tampered with; nothing in it was run."
            ) from None


def restricted_load(path: Path) -> object:
    """Unpickle one Planetoid file with :class:`RestrictedUnpickler`."""
    try:
        with path.open("rb") as f:
            return RestrictedUnpickler(f, path).load()
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None
    except Exception as exc:  # any failure of a corrupt stream: EOFError, UnpicklingError, ...
        raise DatasetError(
            f"{path}: the pickle is truncated or corrupt ({type(exc).__name__}: {exc}); "
            f"fetch the file again"
        ) from None


def _dense(obj: object, path: Path, what: str) -> np.ndarray:
    if isinstance(obj, (sp.spmatrix, sp.sparray)):
        arr = np.asarray(obj.toarray())
    elif isinstance(obj, np.ndarray):
        arr = obj
    else:
        raise DatasetError(f"{path}: expected the {what} as an array, got {type(obj).__name__}")
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DatasetError(f"{path}: expected a 2-D numeric {what}, got {arr.shape} {arr.dtype}")
    return arr


def _one_hot_to_labels(onehot: np.ndarray) -> np.ndarray:
    """Class ids of one-hot rows; an all-zero row (no label) gives ``-1``."""
    labels: np.ndarray = np.argmax(onehot, axis=1).astype(np.int64)
    labels[~onehot.any(axis=1)] = -1
    return labels


def _read_test_index(path: Path) -> tuple[list[int], list[int]]:
    """The test vertex ids, and the line each is on."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None
    ids: list[int] = []
    lines: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not line.strip().isdigit():
                raise DatasetError(f"{path}, line {lineno}: {line.strip()!r} is not a vertex id")
            ids.append(int(line))
            lines.append(lineno)
    if not ids:
        raise DatasetError(f"{path}: the test index is empty")
    return ids, lines


def _check_test_index(path: Path, ids: list[int], lines: list[int], first: int, n: int,
                      listed: str) -> np.ndarray:
    """The test ids as an array, each checked to be in ``first..n-1`` and listed once."""
    seen: dict[int, int] = {}
    for v, lineno in zip(ids, lines, strict=True):
        if not first <= v < n:
            raise DatasetError(
                f"{path}, line {lineno}: test vertex {v} is out of range (valid test ids are "
                f"{first}..{n - 1}, after the {first} non-test vertices); {listed}"
            )
        if v in seen:
            raise DatasetError(
                f"{path}, lines {seen[v]} and {lineno}: test vertex {v} is listed twice; "
                f"list each vertex once"
            )
        seen[v] = lineno
    return np.asarray(ids, dtype=np.int64)


def planetoid_paths(folder: Path, name: str) -> dict[str, Path]:
    """The eight raw files of dataset ``name`` in ``folder``, keyed by part."""
    return {part: folder / f"ind.{name}.{part}" for part in PLANETOID_PARTS}


def _adjacency(graph: object, path: Path) -> Mapping[Any, Any]:
    if not isinstance(graph, Mapping):
        raise DatasetError(
            f"{path}: expected a dict of adjacency lists, got {type(graph).__name__}"
        )
    return graph


def _vertex_ids(values: Any, path: Path) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise DatasetError(
            f"{path}: the adjacency dict holds something other than integer vertex ids "
            f"({values!r:.80})"
        ) from None


def _edges_from_dict(graph: Mapping[Any, Any], path: Path, n: int,
                     listed: str) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``key -> neighbour``, every key and neighbour checked to be in ``0..n-1``."""
    src: list[int] = []
    dst: list[int] = []
    for key, neighbours in graph.items():
        (u,) = _vertex_ids([key], path)
        if not 0 <= u < n:
            raise DatasetError(
                f"{path}: the adjacency dict has a key {u}, out of range (valid ids are "
                f"0..{n - 1}); {listed}"
            )
        nb = _vertex_ids(neighbours, path)
        src.extend([u] * len(nb))
        dst.extend(nb)
    bad = next(((u, v) for u, v in zip(src, dst, strict=True) if not 0 <= v < n), None)
    if bad is not None:
        raise DatasetError(
            f"{path}: edge {bad[0]} -> {bad[1]} names a vertex out of range (valid ids are "
            f"0..{n - 1}); {listed}"
        )
    return np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)


def _dense_parts(parts: dict[str, object], paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """The feature and one-hot label matrices, with the row counts that must agree checked."""
    what = {"allx": "features", "tx": "test features", "ally": "labels", "ty": "test labels",
            "y": "training labels"}
    dense = {part: _dense(parts[part], paths[part], w) for part, w in what.items()}
    _check_rows(paths, ("allx", dense["allx"].shape[0]), ("ally", dense["ally"].shape[0]))
    _check_rows(paths, ("tx", dense["tx"].shape[0]), ("ty", dense["ty"].shape[0]))
    if dense["y"].shape[0] == 0:
        raise DatasetError(
            f"{paths['y']}: holds no training labels; the public split trains on the first "
            f"len(y) vertices, so the train split would be empty (fetch the file again)"
        )
    return dense


def _vertex_count(dense: dict[str, np.ndarray], graph: Mapping[object, object],
                  paths: dict[str, Path]) -> tuple[int, str]:
    """The number of vertices the files list, and a phrase saying so for error messages."""
    a, t, g = dense["allx"].shape[0], dense["tx"].shape[0], len(graph)
    n = max(a + t, g)
    return n, (
        f"the files list {n} vertices ({paths['allx'].name} has {a} rows, {paths['tx'].name} "
        f"{t}, {paths['graph'].name} {g} keys)"
    )


def _assemble(dense: dict[str, np.ndarray], test_index: np.ndarray,
              n: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the ``n`` vertices, test rows in place."""
    allx, ally = dense["allx"], dense["ally"]
    x = np.zeros((n, allx.shape[1]), dtype=np.float32)
    labels = np.full(n, -1, dtype=np.int64)
    x[: allx.shape[0]] = allx
    labels[: ally.shape[0]] = _one_hot_to_labels(ally)
    x[test_index] = dense["tx"]
    labels[test_index] = _one_hot_to_labels(dense["ty"])
    return x, labels


def _check_rows(paths: dict[str, Path], *counted: tuple[str, int]) -> None:
    counts = dict(counted)
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{paths[p].name}: {c}" for p, c in counts.items())
        raise DatasetError(f"{paths[counted[0][0]].parent}: row counts disagree ({detail})")


def load_planetoid(folder: str | os.PathLike[str], name: str) -> Graph:
    """Load ``ind.<name>.*`` from ``folder`` with the public split (see the module docstring).

    Args:
        folder: the ``raw`` folder holding the eight ``ind.<name>.*`` files.
        name: the dataset's file prefix, ``"cora"``, ``"citeseer"`` or ``"pubmed"``.
    """
    folder = Path(folder)
    name = name.lower()
    paths = planetoid_paths(folder, name)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DatasetError(f"{folder}: the Planetoid files {', '.join(missing)} are missing")
    parts = {part: restricted_load(p) for part, p in paths.items() if part != "test.index"}
    dense = _dense_parts(parts, paths)
    graph = _adjacency(parts["graph"], paths["graph"])
    n, listed = _vertex_count(dense, graph, paths)
    ids, lines = _read_test_index(paths["test.index"])
    _check_rows(paths, ("tx", dense["tx"].shape[0]), ("test.index", len(ids)))
    test_index = _check_test_index(paths["test.index"], ids, lines, dense["allx"].shape[0], n,
                                   listed)
    x, labels = _assemble(dense, test_index, n)
    src, dst = _edges_from_dict(graph, paths["graph"], n, listed)
    csr = csr_from_edges(src, dst, n, drop_self_loops=True)
    masks = _public_masks(n, dense["y"].shape[0], test_index, labels)
    return Graph.from_parts(
        name, csr, x, labels, masks, num_classes=dense["ally"].shape[1],
        meta={"source": str(folder), "format": "planetoid", "split": "public (Yang et al. 2016)"},
    )


def _public_masks(n: int, n_train: int, test_index: np.ndarray,
                  labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/val/test masks of the public split, restricted to labelled vertices."""
    train = np.zeros(n, dtype=np.bool_)
    val = np.zeros(n, dtype=np.bool_)
    test = np.zeros(n, dtype=np.bool_)
    train[:n_train] = True
    val[n_train : n_train + NUM_VAL] = True
    test[test_index] = True
    labelled = labels >= 0
    return train & labelled, val & labelled, test & labelled
