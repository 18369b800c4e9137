"""Plain-text edge lists, plus the text-table and edge-to-CSR helpers the other loaders share.

An edge list (``.txt``, ``.edges``, ``.el``, ``.tsv``) is one edge per line, ``src dst
[weight]``, separated by whitespace or commas, with ``#`` or ``%`` starting a comment line. Edges
are directed as written: write both directions for an undirected graph. Duplicate lines of an
unweighted list collapse into one edge; duplicate lines of a weighted list have their weights
summed (the scipy convention). Self-loops are kept as written.

An edge list says nothing about features or labels, and a GNN cannot train without them (a
constant or degree feature and no labels would "load" and then fail, or worse, train on
nothing). So the loader looks for sidecar files next to the list, named after its stem:

* ``<stem>.features.npy`` or ``<stem>.features.csv``: the dense ``(n, f)`` feature matrix, row
  ``i`` for vertex ``i``. It is the file that *lists the vertices*: its ``n`` rows fix the
  vertex count, and the graph never grows to fit an id.
* ``<stem>.labels.npy`` or ``<stem>.labels.csv``: one integer class per vertex (``-1`` for
  unlabelled), or in CSV two columns ``id,label`` (vertices not listed are unlabelled).

Without them :func:`load_edgelist` raises :class:`~pargnn.errors.DatasetError` naming the files it
looked for. The split is :func:`~pargnn.graph.splits.random_split` (60/20/20, seed 0).

Files that disagree are refused with a ``DatasetError`` naming the file, the line and the valid
range, before anything is sized from them: an edge or an ``id,label`` row naming a vertex
``>= n`` (an id of 10**12 is one line of error, not a terabyte allocation), a vertex given two
``id,label`` rows (even with the same label; the message names both lines), and a label file
whose length is not ``n``. A split with no training vertex is refused by
:class:`~pargnn.graph.Graph`.

Every user-facing problem (an unreadable file, a cell that is not a number, a ragged row) is a
``DatasetError`` naming the file and the line, never a traceback from the parser.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pargnn.errors import DatasetError
from pargnn.graph.graph import Graph
from pargnn.graph.splits import random_split

EDGELIST_SUFFIXES: tuple[str, ...] = (".txt", ".edges", ".el", ".tsv")
COMMENT_PREFIXES: tuple[str, ...] = ("#", "%")
# Ids are parsed as float64; beyond 2**53 consecutive integers are no longer representable.
_MAX_EXACT_ID = 2**53


@dataclass(frozen=True)
class Table:
    """A numeric text table: values of the data rows and the 1-based line each came from."""

    path: Path
    header: tuple[str, ...] | None
    values: np.ndarray  # float64, shape (rows, cols)
    lines: np.ndarray  # int64, shape (rows,)

    @property
    def num_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_cols(self) -> int:
        return int(self.values.shape[1])


def read_text_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file; a file that cannot be read is a DatasetError."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None


def _split_cells(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:  # whitespace or commas
        return line.replace(",", " ").split()
    return [cell.strip() for cell in line.split(delimiter)]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _raise_bad_cell(path: Path, rows: list[list[str]], lines: list[int]) -> None:
    """Find the first cell that is not a number and raise a DatasetError naming it."""
    for cells, lineno in zip(rows, lines, strict=True):
        for j, cell in enumerate(cells):
            if not _is_number(cell):
                shown = repr(cell) if cell else "an empty cell"
                raise DatasetError(
                    f"{path}, line {lineno}, column {j + 1}: {shown} is not a number"
                )


def read_table(path: Path, *, delimiter: str | None = ",", min_cols: int = 1,
               max_cols: int | None = None) -> Table:
    """Parse a numeric table with an optional header line and ``#``/``%`` comment lines.

    The first non-comment line is a header when none of its cells is a number. Every data row
    must have the same number of cells, between ``min_cols`` and ``max_cols``. ``delimiter=None``
    accepts whitespace and commas alike (edge lists); ``","`` is strict CSV, where an empty cell
    is an error.

    Well-formed files go through numpy's C parser; only a file that fails it is parsed again
    cell by cell, to name the line and cell at fault.
    """
    header: tuple[str, ...] | None = None
    data: list[str] = []
    lines: list[int] = []
    for lineno, raw in enumerate(read_text_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT_PREFIXES):
            continue
        if delimiter is None:
            line = line.replace(",", " ")
        if not data and header is None:
            cells = _split_cells(line, delimiter)
            if not any(_is_number(c) for c in cells):
                header = tuple(cells)
                continue
        data.append(line)
        lines.append(lineno)
    values = _fast_parse(data, delimiter, min_cols, max_cols)
    if values is None:
        values = _slow_parse(path, data, lines, delimiter, min_cols, max_cols)
    return Table(path, header, values, np.asarray(lines, dtype=np.int64))


def _fast_parse(data: list[str], delimiter: str | None, min_cols: int,
                max_cols: int | None) -> np.ndarray | None:
    """The table via ``np.loadtxt``, or ``None`` when it fails or has the wrong width."""
    if not data:
        return np.zeros((0, min_cols), dtype=np.float64)
    try:
        values = np.loadtxt(data, delimiter=delimiter, comments=None, dtype=np.float64, ndmin=2)
    except ValueError:
        return None
    width = values.shape[1]
    if width < min_cols or (max_cols is not None and width > max_cols):
        return None
    return np.asarray(values)


def _slow_parse(path: Path, data: list[str], lines: list[int], delimiter: str | None,
                min_cols: int, max_cols: int | None) -> np.ndarray:
    """Cell-by-cell parse that raises a DatasetError naming the first bad line and cell."""
    rows: list[list[str]] = []
    for line, lineno in zip(data, lines, strict=True):
        cells = _split_cells(line, delimiter)
        _check_width(path, lineno, len(cells), rows[0] if rows else None, min_cols, max_cols)
        rows.append(cells)
    return _to_float(path, rows, lines, min_cols)


def _check_width(path: Path, lineno: int, width: int, first: list[str] | None,
                 min_cols: int, max_cols: int | None) -> None:
    if first is not None and width != len(first):
        raise DatasetError(
            f"{path}, line {lineno}: {width} columns, but the first data row has {len(first)}"
        )
    if width < min_cols or (max_cols is not None and width > max_cols):
        want = f"{min_cols}" if max_cols == min_cols else f"{min_cols} to {max_cols or 'any'}"
        raise DatasetError(f"{path}, line {lineno}: {width} columns, expected {want}")


def _to_float(path: Path, rows: list[list[str]], lines: list[int], width: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, width), dtype=np.float64)
    try:  # numpy parses the strings in C; only a failure pays for the cell-by-cell scan
        return np.asarray(rows, dtype=np.str_).astype(np.float64)
    except ValueError as exc:
        _raise_bad_cell(path, rows, lines)
        raise DatasetError(f"{path}: not a numeric table ({exc})") from None


def int_column(table: Table, col: int, what: str, *, minimum: int = 0) -> np.ndarray:
    """Column ``col`` as int64, checking that every value is an integer ``>= minimum``."""
    v = table.values[:, col]
    bad = ~np.isfinite(v) | (v != np.round(v)) | (v < minimum) | (np.abs(v) >= _MAX_EXACT_ID)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(
            f"{table.path}, line {int(table.lines[row])}: {what} {v[row]:g} is not an integer "
            f">= {minimum}"
        )
    return v.astype(np.int64)


def check_ids_below(table: Table, ids: np.ndarray, n: int, what: str, why: str) -> None:
    """Raise a DatasetError naming the line of the first id ``>= n``."""
    bad = ids >= n
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(
            f"{table.path}, line {int(table.lines[row])}: {what} {int(ids[row])} is out of range; "
            f"{why} (valid ids are 0..{n - 1})"
        )


def check_listed_once(table: Table, ids: np.ndarray, values: np.ndarray, what: str) -> None:
    """Raise a DatasetError naming both lines of the first vertex id that occurs twice."""
    order = np.argsort(ids, kind="stable")
    dup = np.flatnonzero(ids[order[1:]] == ids[order[:-1]])
    if not dup.size:
        return
    k = dup[np.argmin(order[dup + 1])]  # the repeat that comes first in the file
    a, b = int(order[k]), int(order[k + 1])
    raise DatasetError(
        f"{table.path}, lines {int(table.lines[a])} and {int(table.lines[b])}: vertex "
        f"{int(ids[a])} is listed twice ({what}s {values[a]:g} and {values[b]:g}); list each "
        f"vertex once"
    )


def csr_from_edges(
    src: np.ndarray,
    dst: np.ndarray,
    n: int,
    weights: np.ndarray | None = None,
    *,
    symmetric: bool = False,
    drop_self_loops: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """CSR ``(indptr, indices, weights)`` of the edges ``src[k] -> dst[k]`` on ``n`` vertices.

    Ids must already be checked to lie in ``[0, n)``. ``symmetric`` adds every reverse edge.
    Duplicates collapse to one edge; with weights, their weights are summed. Column indices are
    sorted within each row. The returned weights are ``None`` for an unweighted graph.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if symmetric:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        w = None if w is None else np.concatenate([w, w])
    if drop_self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
        w = None if w is None else w[keep]
    data = np.ones(src.shape[0], dtype=np.float64) if w is None else w
    csr = sp.csr_array(sp.coo_array((data, (src, dst)), shape=(n, n)))
    csr.sum_duplicates()
    csr.sort_indices()
    out_w = None if w is None else np.asarray(csr.data, dtype=np.float32)
    return np.asarray(csr.indptr), np.asarray(csr.indices), out_w


def load_npy(path: Path, what: str) -> np.ndarray:
    """A ``.npy`` array, refusing pickled object arrays (they would run code on load)."""
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except ValueError as exc:
        raise DatasetError(
            f"{path}: cannot read the {what} ({exc}); it must be a plain numeric .npy array "
            f"(object arrays are refused because loading them would unpickle arbitrary code)"
        ) from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read the {what} ({exc})") from None


def sidecar_candidates(path: Path, kind: str) -> tuple[Path, Path]:
    """The two sidecar files (``.npy`` then ``.csv``) looked for next to an edge list."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return (path.with_name(f"{stem}.{kind}.npy"), path.with_name(f"{stem}.{kind}.csv"))


def _find_sidecar(path: Path, kind: str, given: str | os.PathLike[str] | None) -> Path:
    if given is not None:
        return Path(given)
    candidates = sidecar_candidates(path, kind)
    for c in candidates:
        if c.is_file():
            return c
    feats = " or ".join(str(c) for c in sidecar_candidates(path, "features"))
    labels = " or ".join(str(c) for c in sidecar_candidates(path, "labels"))
    raise DatasetError(
        f"{path}: an edge list has no vertex features or labels, and training needs both; "
        f"no {kind} file was found. Looked for {' and '.join(str(c) for c in candidates)}. "
        f"Put the features (an (n, f) matrix, row i = vertex i) in {feats} and the labels "
        f"(one integer per vertex, -1 = unlabelled, or 'id,label' rows) in {labels}."
    )


def read_features(path: Path) -> np.ndarray:
    """A dense feature matrix from ``.npy`` or a CSV of one row per vertex."""
    if path.suffix == ".npy":
        x = load_npy(path, "features")
        if x.ndim != 2:
            raise DatasetError(f"{path}: features must be a 2-D (n, f) array, got shape {x.shape}")
        return x
    table = read_table(path, delimiter=",")
    if table.num_rows == 0:
        raise DatasetError(f"{path}: the features file has no data rows")
    return table.values


def read_labels(path: Path, n: int) -> np.ndarray:
    """Labels from ``.npy`` (one per vertex) or CSV (one per line, or ``id,label`` pairs)."""
    if path.suffix == ".npy":
        y = load_npy(path, "labels")
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(
                f"{path}: labels must be {n} integers (one per feature row), "
                f"got shape {y.shape} dtype {y.dtype}"
            )
        return y.astype(np.int64)
    table = read_table(path, delimiter=",", max_cols=2)
    if table.num_cols == 1:
        if table.num_rows != n:
            raise DatasetError(
                f"{path}: {table.num_rows} labels, but the features have {n} rows; give one label "
                f"per vertex, or 'id,label' rows"
            )
        return int_column(table, 0, "label", minimum=-(2**31))
    ids = int_column(table, 0, "vertex id")
    check_ids_below(table, ids, n, "vertex id", f"the features have {n} rows")
    labels = int_column(table, 1, "label", minimum=-(2**31))
    check_listed_once(table, ids, labels, "label")
    y = np.full(n, -1, dtype=np.int64)
    y[ids] = labels
    return y


def read_edges(path: Path) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """The edge table and its ``src``, ``dst`` and (third column) weight arrays."""
    table = read_table(path, delimiter=None, min_cols=2, max_cols=3)
    src = int_column(table, 0, "source vertex id")
    dst = int_column(table, 1, "target vertex id")
    weights = table.values[:, 2] if table.num_cols == 3 else None
    return table, src, dst, weights


def load_edgelist(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    features: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Graph:
    """Load an edge list with its feature and label sidecar files (see the module docstring).

    Args:
        path: the edge list.
        name: the graph's name; defaults to the file's stem.
        features, labels: explicit feature/label files, overriding the sidecar search.
        seed: seed of the 60/20/20 random split.
    """
    path = Path(path)
    feature_path = _find_sidecar(path, "features", features)
    label_path = _find_sidecar(path, "labels", labels)
    table, src, dst, weights = read_edges(path)
    x = read_features(feature_path)
    n = int(x.shape[0])
    why = f"the features ({feature_path}) have {n} rows"
    check_ids_below(table, src, n, "source vertex id", why)
    check_ids_below(table, dst, n, "target vertex id", why)
    y = read_labels(label_path, n)
    return Graph.from_parts(
        name or path.stem, csr_from_edges(src, dst, n, weights), x, y, random_split(y, seed=seed),
        meta={"source": str(path), "format": "edgelist", "split": f"random 60/20/20 seed {seed}"},
    )

