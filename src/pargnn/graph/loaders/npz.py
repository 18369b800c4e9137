"""The pargnn ``.npz`` format: a whole :class:`~pargnn.graph.Graph` in one numpy archive.

Why a format of our own: a graph converted once (from PyG, OGB, a database dump) loads again in
milliseconds without the converter, and ``np.load(..., allow_pickle=False)`` reads it without
running any code from the file.

Keys:

* ``indptr``, ``indices``: the CSR adjacency (row ``i`` = out-edges of ``i``). Required.
* ``features`` ``(n, f)`` and ``labels`` ``(n,)`` (``-1`` = unlabelled). Required.
* ``weights`` ``(nnz,)``: optional edge weights.
* ``train_mask``, ``val_mask``, ``test_mask``: optional booleans. With none of them the split
  is :func:`~pargnn.graph.splits.random_split` (60/20/20 of the labelled vertices, seed 0); a
  mask left out when another is given is empty (e.g. a graph with no validation set).
* ``name`` (a string) and ``num_classes`` (an integer): optional; the name defaults to the
  file's stem.

A file written by ``scipy.sparse.save_npz`` holds only an adjacency matrix; it is recognised
and refused with a message saying which keys are missing and how to write a complete file
(:func:`save_npz`).

The vertex count ``n`` is the length of ``labels``; ``features`` must have ``n`` rows and
``indptr`` ``n + 1`` entries. Arrays that disagree on ``n``, or an entry of ``indices`` outside
``0..n-1``, are a :class:`~pargnn.errors.DatasetError` naming the file, the key, the position
and the valid range (nothing is sized from an index, so a wild one costs no memory). Stored
masks must select at least one training vertex (:class:`~pargnn.graph.Graph` refuses an
empty train split; empty validation and test masks are allowed).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.splits import random_split

REQUIRED_KEYS: tuple[str, ...] = ("indptr", "indices", "features", "labels")
OPTIONAL_KEYS: tuple[str, ...] = (
    "weights", "train_mask", "val_mask", "test_mask", "name", "num_classes",
)
MASK_KEYS: tuple[str, ...] = ("train_mask", "val_mask", "test_mask")
_SCIPY_KEYS = frozenset({"format", "shape", "data"})


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive, read eagerly so the file is closed on return."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DatasetError(f"{path}: a single .npy array, not an .npz archive")
            return {key: np.asarray(archive[key]) for key in archive.files}
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except ValueError as exc:
        raise DatasetError(
            f"{path}: cannot read the archive ({exc}); object arrays are refused because "
            f"loading them would unpickle arbitrary code"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a readable .npz archive ({exc})") from None


def _check_keys(path: Path, arrays: dict[str, np.ndarray]) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if not missing:
        return
    what = (
        "holds only a sparse matrix (it was written by scipy.sparse.save_npz), so the vertex "
        if arrays.keys() >= _SCIPY_KEYS else "lacks the "
    )
    raise DatasetError(
        f"{path}: {what}{' and '.join(missing)} needed for training are missing. A pargnn .npz "
        f"needs the keys {', '.join(REQUIRED_KEYS)} (optional: {', '.join(OPTIONAL_KEYS)}); "
        f"write one with pargnn.graph.loaders.save_npz(graph, path)"
    )


def _mask(path: Path, arrays: dict[str, np.ndarray], key: str, n: int) -> np.ndarray:
    """A stored mask as bool (0/1 integers are accepted), or an empty mask if absent."""
    if key not in arrays:
        return np.zeros(n, dtype=np.bool_)
    m = arrays[key]
    if m.dtype != np.bool_ and np.issubdtype(m.dtype, np.integer) and np.isin(m, (0, 1)).all():
        m = m.astype(np.bool_)
    if m.dtype != np.bool_:
        raise DatasetError(f"{path}: {key} must be boolean (or 0/1), got dtype {m.dtype}")
    return m


def _scalar(path: Path, arrays: dict[str, np.ndarray], key: str) -> object:
    v = arrays.get(key)
    if v is None:
        return None
    if v.shape != ():
        raise DatasetError(f"{path}: {key} must be a single value, got shape {v.shape}")
    return v.item()


def _check_sizes(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """The arrays agree on the vertex count ``n`` (labels' length) and index only below it."""
    labels = arrays["labels"]
    if labels.ndim != 1:
        raise DatasetError(f"{path}: labels must be 1-D (one class per vertex), got {labels.shape}")
    n = int(labels.shape[0])
    x, indptr = arrays["features"], arrays["indptr"]
    for key, unit, size, want in (("features", "rows", x.shape[:1], n),
                                  ("indptr", "entries", indptr.shape[:1], n + 1)):
        if size and size[0] != want:
            raise DatasetError(
                f"{path}: {key} has {size[0]} {unit} but labels has {n} (one per vertex), so "
                f"{key} needs {want}; the arrays disagree on the number of vertices"
            )
    _check_indices(path, arrays["indices"], n)


def _check_indices(path: Path, indices: np.ndarray, n: int) -> None:
    if indices.ndim != 1 or not indices.size or not np.issubdtype(indices.dtype, np.integer):
        return  # the Graph's own checks name these
    bad = (indices < 0) | (indices >= n)
    if bad.any():
        k = int(np.argmax(bad))
        raise DatasetError(
            f"{path}: edge index {int(indices[k])} is out of range for a graph with {n} "
            f"vertices (at indices[{k}]; valid ids are 0..{n - 1}, as labels has {n} entries)"
        )


def load_npz(path: str | os.PathLike[str], *, seed: int = 0) -> Graph:
    """Load a pargnn ``.npz`` (see the module docstring for the keys and the checks)."""
    path = Path(path)
    arrays = _read_arrays(path)
    _check_keys(path, arrays)
    _check_sizes(path, arrays)
    labels = arrays["labels"]
    if any(k in arrays for k in MASK_KEYS):
        train, val, test = (_mask(path, arrays, k, labels.shape[0]) for k in MASK_KEYS)
        split = "stored"
    else:
        train, val, test = random_split(labels, seed=seed)
        split = f"random 60/20/20 seed {seed}"
    name = _scalar(path, arrays, "name")
    num_classes = _scalar(path, arrays, "num_classes")
    if num_classes is not None and not isinstance(num_classes, int):
        raise DatasetError(f"{path}: num_classes must be an integer, got {num_classes!r}")
    csr = arrays["indptr"], arrays["indices"], arrays.get("weights")
    return Graph.from_parts(
        str(name) if name is not None else path.stem, csr, arrays["features"], labels,
        (train, val, test), num_classes=-1 if num_classes is None else num_classes,
        meta={"source": str(path), "format": "npz", "split": split},
    )


def save_npz(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` as a pargnn ``.npz``, atomically, and return the path written.

    The archive is written to a temporary file in the destination folder and moved into place
    with :func:`os.replace`, so a reader never sees a half-written file and an interrupted save
    leaves any previous file intact. The archive is not compressed: feature matrices barely
    compress, and an uncompressed archive loads at disk speed. A path without the ``.npz``
    suffix gets it appended (as numpy would). ``graph.meta`` is not stored.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {
        "indptr": graph.indptr,
        "indices": graph.indices,
        "features": graph.features,
        "labels": graph.labels,
        "train_mask": graph.train_mask,
        "val_mask": graph.val_mask,
        "test_mask": graph.test_mask,
        "name": np.asarray(graph.name),
        "num_classes": np.asarray(graph.num_classes, dtype=np.int64),
    }
    if graph.weights is not None:
        arrays["weights"] = graph.weights
    _atomic_savez(path, arrays)
    return path


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write into {folder} ({exc})") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetError(f"{path}: cannot write the file ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
