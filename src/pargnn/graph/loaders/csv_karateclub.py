"""The karateclub CSV layout (Twitch, Facebook, GitHub, Deezer, LastFM, Wikipedia node sets).

A dataset is a folder of three CSV files, each with a header line:

* ``target.csv``: the class of each vertex, one row per vertex. It is the file that *lists the
  vertices*: with ``n`` data rows, the vertex ids are ``0..n-1``, each listed exactly once (as
  every karateclub dataset has them; twitch-engb lists 0..7125). A two-column file
  (``id,target``, as the karateclub repository ships) is read directly. The wider MUSAE Twitch
  layout (``id,days,mature,views,partner,new_id``) is recognised too: the vertex id is
  ``new_id`` (the id the edges use) and the class is ``mature`` (``True``/``False`` -> 1/0).
  Otherwise the target column is the first of ``target``, ``mature``, ``label``, ``class``,
  ``y``. A target of ``-1`` marks a listed but unlabelled vertex.
* ``edges.csv``: ``id_1,id_2`` rows of an *undirected* graph. Both directions are stored
  (``A`` is symmetric, as the GCN propagation rule assumes); self-loops and duplicate edges are
  dropped, since a GCN adds its own self-loops during normalisation.
* ``features.csv``: sparse ``node_id,feature_id,value`` triples, made dense here (repeated
  triples are summed, like scipy's COO); a vertex without feature rows has a zero feature
  vector. By default only the feature ids that occur become columns, in increasing id order:
  Twitch's ids run up to 3,169 but only 2,545 occur, and an all-zero column costs memory and
  SpMM time and carries nothing. ``compact_features=False`` gives ``max feature id + 1``
  columns instead. The original id of each column is kept in ``graph.meta["feature_ids"]``.

Data that disagrees with itself is refused with a :class:`~pargnn.errors.DatasetError` naming
the file, the line and the valid range, before anything is sized from it:

* a vertex listed twice in ``target.csv`` (whether or not the two labels agree; the message
  names both lines);
* an id in ``target.csv`` outside ``0..n-1`` (the ids must number the listed vertices);
* a vertex id in ``edges.csv`` or ``features.csv`` that ``target.csv`` does not list; the
  graph never grows to fit an id, so an id of 10**12 is one line of error, not a 7 TiB
  allocation;
* with ``compact_features=False``, a feature id so large that the dense matrix would not fit
  in this machine's memory.

There is no official split, so the masks are :func:`~pargnn.graph.splits.random_split` (60/20/20
of the labelled vertices, seed 0). For twitch-engb (7,126 vertices, all labelled) that is
4,276 / 1,425 / 1,425. A split with no training vertex (a dataset with no labelled vertex) is
refused by :class:`~pargnn.graph.Graph`.

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
    Table,
    check_ids_below,
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

    Raises:
        DatasetError: a file is missing or unreadable, or the files disagree (see the module
            docstring for the rules).
    """
    folder = Path(folder)
    _check_complete(folder)
    y = _read_targets(folder / "target.csv")
    n = y.shape[0]
    why = f"only the {n} vertices that {folder / 'target.csv'} lists may be named"
    src, dst = _read_edges(folder / "edges.csv", n, why)
    x, feature_ids = _read_features(folder / "features.csv", n, why, compact_features)
    csr = csr_from_edges(src, dst, n, symmetric=True, drop_self_loops=True)
    return Graph.from_parts(
        name or folder.name, csr, x, y, random_split(y, seed=seed),
        meta={
            "source": str(folder),
            "format": "karateclub-csv",
            "split": f"random 60/20/20 seed {seed}",
            "feature_ids": feature_ids,
        },
    )


def _check_complete(folder: Path) -> None:
    missing = [str(folder / f) for f in KARATECLUB_FILES if not (folder / f).is_file()]
    if missing:
        raise DatasetError(
            f"{folder}: not a complete karateclub dataset; missing {', '.join(missing)} "
            f"(a karateclub folder holds {', '.join(KARATECLUB_FILES)})"
        )


def _max_or(a: np.ndarray, default: int) -> int:
    return int(a.max()) if a.size else default


def _read_edges(path: Path, n: int, why: str) -> tuple[np.ndarray, np.ndarray]:
    """Both endpoint columns, every id checked to be one of the ``n`` listed vertices."""
    table = read_table(path, delimiter=",", min_cols=2, max_cols=2)
    ends = int_column(table, 0, "vertex id"), int_column(table, 1, "vertex id")
    for ids in ends:
        check_ids_below(table, ids, n, "vertex id", why)
    return ends


def _read_features(path: Path, n: int, why: str,
                   compact: bool) -> tuple[np.ndarray, np.ndarray]:
    """The dense ``(n, f)`` features of the triples, and the original id of each column."""
    table = read_table(path, delimiter=",", min_cols=3, max_cols=3)
    rows = int_column(table, 0, "node id")
    check_ids_below(table, rows, n, "node id", why)
    cols = int_column(table, 1, "feature id")
    if compact:
        feature_ids, cols = np.unique(cols, return_inverse=True)
    else:
        _check_dense_fits(table, cols, n)
        feature_ids = np.arange(_max_or(cols, -1) + 1, dtype=np.int64)
    shape = (n, feature_ids.shape[0])
    vals = table.values[:, 2].astype(np.float32)
    x = sp.coo_array((vals, (rows, cols)), shape=shape).toarray()
    return np.asarray(x, dtype=np.float32), feature_ids


def _check_dense_fits(table: Table, cols: np.ndarray, n: int) -> None:
    """Refuse a feature id whose ``max id + 1`` columns could not fit in memory."""
    width = _max_or(cols, -1) + 1
    need, have = 4 * n * width, _physical_memory()
    if have is None or need <= have:
        return
    row = int(np.argmax(cols))
    raise DatasetError(
        f"{table.path}, line {int(table.lines[row])}: feature id {int(cols[row])} would make "
        f"{width} columns (compact_features=False keeps max feature id + 1), a dense {n} x "
        f"{width} matrix of {need / 2**30:.3g} GiB, more than this machine's "
        f"{have / 2**30:.3g} GiB of memory; fix the id or load with compact_features=True"
    )


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _read_targets(path: Path) -> np.ndarray:
    """The class of each of the vertices ``target.csv`` lists, choosing columns by the header."""
    rows = list(csv.reader(read_text_lines(path)))
    numbered = [(i + 1, [c.strip() for c in r]) for i, r in enumerate(rows) if any(r)]
    if not numbered:
        raise DatasetError(f"{path}: the target file is empty")
    header = numbered[0][1]
    has_header = not any(_parse_int(c) is not None for c in header)
    id_col, target_col = _target_columns(path, header if has_header else None, len(header))
    data = numbered[1:] if has_header else numbered
    n = len(data)
    if n == 0:
        raise DatasetError(f"{path}: the target file lists no vertices (no data rows)")
    y = np.full(n, -1, dtype=np.int64)
    seen: dict[int, tuple[int, int]] = {}
    for lineno, cells in data:
        v = _cell_int(path, lineno, cells, id_col, "vertex id", minimum=0)
        t = _cell_int(path, lineno, cells, target_col, "target", minimum=-1)
        _check_listed_once(path, lineno, v, t, n, seen)
        y[v] = t
    return y


def _check_listed_once(path: Path, lineno: int, v: int, target: int, n: int,
                       seen: dict[int, tuple[int, int]]) -> None:
    """Vertex ``v`` of ``target.csv`` is in ``0..n-1`` and not listed before; record it."""
    if v >= n:
        raise DatasetError(
            f"{path}, line {lineno}: vertex id {v} is out of range; the file lists {n} "
            f"vertices, one per row, so the ids must number them (valid ids are 0..{n - 1})"
        )
    if v in seen:
        first, before = seen[v]
        raise DatasetError(
            f"{path}, lines {first} and {lineno}: vertex {v} is listed twice (targets {before} "
            f"and {target}); list each vertex once"
        )
    seen[v] = (lineno, target)


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
