"""The karateclub CSV layout (Twitch, Facebook, GitHub, Deezer, LastFM, Wikipedia node sets).

A dataset is a folder of three CSV files, each with a header line:

* ``edges.csv``: ``id_1,id_2`` rows of an *undirected* graph. Both directions are stored
  (``A`` is symmetric, as the GCN propagation rule assumes); self-loops and duplicate edges are
  dropped, since a GCN adds its own self-loops during normalisation.
* ``features.csv``: sparse ``node_id,feature_id,value`` triples, made dense here (repeated
  triples are summed, like scipy's COO). By default only the feature ids that occur become
  columns, in increasing id order: Twitch's ids run up to 3,169 but only 2,545 occur, and an
  all-zero column costs memory and SpMM time and carries nothing. ``compact_features=False``
  gives ``max feature id + 1`` columns instead. The original id of each column is kept in
  ``graph.meta["feature_ids"]``.
* ``target.csv``: the class of each vertex. A two-column file (``id,target``, as the karateclub
  repository ships) is read directly. The wider MUSAE Twitch layout
  (``id,days,mature,views,partner,new_id``) is recognised too: the vertex id is ``new_id`` (the
  id the edges use) and the class is ``mature`` (``True``/``False`` -> 1/0). Otherwise the
  target column is the first of ``target``, ``mature``, ``label``, ``class``, ``y``.

There are ``1 + max id`` vertices over the three files; one without a target row is
unlabelled (``-1``) and one without feature rows has a zero feature vector.

There is no official split, so the masks are :func:`~pargnn.graph.splits.random_split` (60/20/20
of the labelled vertices, seed 0). For twitch-engb (7,126 vertices, all labelled) that is
4,276 / 1,425 / 1,425.

The parsing uses the csv module and numpy only (no pandas dependency); a cell that is not a
number is a :class:`~pargnn.errors.DatasetError` naming the file, the line and the cell.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.loaders.edgelist import (
    csr_from_edges,
    int_column,
    read_table,
    read_text_lines,
)
from pargnn.graph.splits import random_split

KARATECLUB_FILES: tuple[str, ...] = ("edges.csv", "features.csv", "target.csv")
_ID_COLUMNS: tuple[str, ...] = ("new_id", "id", "node_id")
_TARGET_COLUMNS: tuple[str, ...] = ("target", "mature", "label", "class", "y")
_BOOLEANS: tuple[tuple[str, int], ...] = (("true", 1), ("false", 0))


def load_karateclub(
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    seed: int = 0,
    compact_features: bool = True,
) -> Graph:
    """Load a karateclub-style folder (``edges.csv``, ``features.csv``, ``target.csv``).

    Args:
        folder: the folder holding the three files.
        name: the graph's name; defaults to the folder's name.
        seed: seed of the 60/20/20 random split.
        compact_features: keep only the feature ids that occur (see the module docstring).
    """
    folder = Path(folder)
    missing = [str(folder / f) for f in KARATECLUB_FILES if not (folder / f).is_file()]
    if missing:
        raise DatasetError(
            f"{folder}: not a complete karateclub dataset; missing {', '.join(missing)} "
            f"(a karateclub folder holds {', '.join(KARATECLUB_FILES)})"
        )
    src, dst = _read_edges(folder / "edges.csv")
    rows, cols, vals = _read_feature_triples(folder / "features.csv")
    ids, target = _read_targets(folder / "target.csv")
    n = 1 + max(_max_or(src, -1), _max_or(dst, -1), _max_or(rows, -1), _max_or(ids, -1))
    x, feature_ids = _dense_features(n, rows, cols, vals, compact_features)
    y = np.full(n, -1, dtype=np.int64)
    y[ids] = target
    indptr, indices, _ = csr_from_edges(src, dst, n, symmetric=True, drop_self_loops=True)
    train, val, test = random_split(y, seed=seed)
    return Graph(
        name=name or folder.name,
        indptr=indptr,
        indices=indices,
        features=x,
        labels=y,
        train_mask=train,
        val_mask=val,
        test_mask=test,
        meta={
            "source": str(folder),
            "format": "karateclub-csv",
            "split": f"random 60/20/20 seed {seed}",
            "feature_ids": feature_ids,
        },
    )


def _max_or(a: np.ndarray, default: int) -> int:
    return int(a.max()) if a.size else default


def _read_edges(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = read_table(path, delimiter=",", min_cols=2, max_cols=2)
    return int_column(table, 0, "vertex id"), int_column(table, 1, "vertex id")


def _read_feature_triples(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = read_table(path, delimiter=",", min_cols=3, max_cols=3)
    rows = int_column(table, 0, "node id")
    cols = int_column(table, 1, "feature id")
    return rows, cols, table.values[:, 2]


def _dense_features(
    n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, compact: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The dense ``(n, f)`` matrix of the triples, and the original id of each column."""
    if compact:
        feature_ids, cols = np.unique(cols, return_inverse=True)
    else:
        feature_ids = np.arange(_max_or(cols, -1) + 1, dtype=np.int64)
    shape = (n, feature_ids.shape[0])
    x = sp.coo_array((vals.astype(np.float32), (rows, cols)), shape=shape).toarray()
    return np.asarray(x, dtype=np.float32), feature_ids


def _read_targets(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(vertex ids, classes)`` from ``target.csv``, choosing the columns by the header."""
    rows = list(csv.reader(read_text_lines(path)))
    numbered = [(i + 1, [c.strip() for c in r]) for i, r in enumerate(rows) if any(r)]
    if not numbered:
        raise DatasetError(f"{path}: the target file is empty")
    header = numbered[0][1]
    has_header = not any(_parse_int(c) is not None for c in header)
    id_col, target_col = _target_columns(path, header if has_header else None, len(header))
    data = numbered[1:] if has_header else numbered
    ids = np.empty(len(data), dtype=np.int64)
    target = np.empty(len(data), dtype=np.int64)
    for k, (lineno, cells) in enumerate(data):
        ids[k] = _cell_int(path, lineno, cells, id_col, "vertex id", minimum=0)
        target[k] = _cell_int(path, lineno, cells, target_col, "target", minimum=-1)
    return ids, target


def _target_columns(path: Path, header: list[str] | None, width: int) -> tuple[int, int]:
    if header is None:
        if width != 2:
            raise DatasetError(
                f"{path}: a target file without a header must have two columns (id,target); "
                f"the first row has {width}"
            )
        return 0, 1
    lower = [h.lower() for h in header]
    id_col = next((lower.index(c) for c in _ID_COLUMNS if c in lower), 0)
    target_col = next((lower.index(c) for c in _TARGET_COLUMNS if c in lower), None)
    if target_col is None and width == 2:
        target_col = 1 - id_col if id_col in (0, 1) else 1
    if target_col is None:
        raise DatasetError(
            f"{path}: cannot tell which column is the target; the header is "
            f"{','.join(header)} and none of {', '.join(_TARGET_COLUMNS)} is among them"
        )
    return id_col, target_col


def _parse_int(cell: str) -> int | None:
    low = cell.lower()
    for word, value in _BOOLEANS:
        if low == word:
            return value
    try:
        v = float(cell)
    except ValueError:
        return None
    return int(v) if np.isfinite(v) and v == int(v) else None


def _cell_int(path: Path, lineno: int, cells: list[str], col: int, what: str,
              minimum: int) -> int:
    if col >= len(cells):
        raise DatasetError(f"{path}, line {lineno}: no column {col + 1} (the {what})")
    v = _parse_int(cells[col])
    if v is None or v < minimum:
        raise DatasetError(
            f"{path}, line {lineno}, column {col + 1}: the {what} {cells[col]!r} is not an "
            f"integer >= {minimum}" + (" (or True/False)" if what == "target" else "")
        )
    return v
