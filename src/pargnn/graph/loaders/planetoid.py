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
* There are ``max(len(allx), max(test.index) + 1)`` vertices. CiteSeer's graph has 15 ids in
  ``min..max`` of ``test.index`` that have no features and no label (isolated vertices). PyG
  gives them zero features and label 0 (the argmax of a zero row); here they get zero features
  and label ``-1`` (unlabelled), so no metric counts them. They are not in ``test.index``, so the
  test mask is the same as PyG's either way. Any all-zero one-hot row in ``ally``/``ty`` is
  likewise read as unlabelled and kept out of the masks (none occur in Cora or CiteSeer).
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
from typing import BinaryIO

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


def _read_test_index(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None
    ids = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not line.strip().isdigit():
                raise DatasetError(f"{path}, line {lineno}: {line.strip()!r} is not a vertex id")
            ids.append(int(line))
    if not ids:
        raise DatasetError(f"{path}: the test index is empty")
    return np.asarray(ids, dtype=np.int64)


def planetoid_paths(folder: Path, name: str) -> dict[str, Path]:
    """The eight raw files of dataset ``name`` in ``folder``, keyed by part."""
    return {part: folder / f"ind.{name}.{part}" for part in PLANETOID_PARTS}


def _edges_from_dict(graph: object, path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(graph, Mapping):
        raise DatasetError(
            f"{path}: expected a dict of adjacency lists, got {type(graph).__name__}"
        )
    src: list[int] = []
    dst: list[int] = []
    for key, neighbours in graph.items():
        nb = list(neighbours)
        src.extend([int(key)] * len(nb))
        dst.extend(int(j) for j in nb)
    s, d = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    bad = (s < 0) | (s >= n) | (d < 0) | (d >= n)
    if bad.any():
        k = int(np.argmax(bad))
        raise DatasetError(
            f"{path}: edge {s[k]} -> {d[k]} names a vertex outside 0..{n - 1} "
            f"(the features and test index give {n} vertices)"
        )
    return s, d


def _assemble(parts: dict[str, object], paths: dict[str, Path],
              test_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Features, labels, the number of training vertices and of classes, test rows in place."""
    allx = _dense(parts["allx"], paths["allx"], "features")
    tx = _dense(parts["tx"], paths["tx"], "test features")
    ally = _dense(parts["ally"], paths["ally"], "labels")
    ty = _dense(parts["ty"], paths["ty"], "test labels")
    y = _dense(parts["y"], paths["y"], "training labels")
    _check_rows(paths, ("allx", allx), ("ally", ally))
    _check_rows(paths, ("tx", tx), ("ty", ty), ("test.index", test_index))
    if test_index.min() < allx.shape[0]:
        raise DatasetError(
            f"{paths['test.index']}: test vertex {int(test_index.min())} collides with the "
            f"{allx.shape[0]} non-test vertices of {paths['allx']}"
        )
    n = max(allx.shape[0], int(test_index.max()) + 1)
    x = np.zeros((n, allx.shape[1]), dtype=np.float32)
    labels = np.full(n, -1, dtype=np.int64)
    x[: allx.shape[0]] = allx
    labels[: ally.shape[0]] = _one_hot_to_labels(ally)
    x[test_index] = tx
    labels[test_index] = _one_hot_to_labels(ty)
    return x, labels, int(y.shape[0]), int(ally.shape[1])


def _check_rows(paths: dict[str, Path], *named: tuple[str, np.ndarray]) -> None:
    counts = {part: arr.shape[0] for part, arr in named}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{paths[p].name}: {c}" for p, c in counts.items())
        raise DatasetError(f"{paths[named[0][0]].parent}: row counts disagree ({detail})")


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
    test_index = _read_test_index(paths["test.index"])
    x, labels, n_train, k = _assemble(parts, paths, test_index)
    n = x.shape[0]
    src, dst = _edges_from_dict(parts["graph"], paths["graph"], n)
    indptr, indices, _ = csr_from_edges(src, dst, n, drop_self_loops=True)
    train, val, test = _public_masks(n, n_train, test_index, labels)
    return Graph(
        name=name, indptr=indptr, indices=indices, features=x, labels=labels,
        train_mask=train, val_mask=val, test_mask=test, num_classes=k,
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
