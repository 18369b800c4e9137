"""A prepared graph on disk, for the spawned ranks of a run: written once, mapped by each.

The process that loaded the graph prepares it once (:func:`~pargnn.algorithms.prepare
.prepare_graph`), writes it here -- one ``.npy`` file per array and a small JSON of the rest,
in a private temporary folder -- and lets go of it before the ranks start. Each rank maps the
arrays (``numpy.load(..., mmap_mode="r")``) instead of reading them: the ranks of one machine
share the pages, and a rank that cuts only its own rows out (the broadcast algorithms in input
order) reads little more than those rows. Nothing is pickled: a rank reads arrays and JSON.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pargnn.algorithms.prepare import PreparedGraph

_MATRICES = ("at", "a", "adjacency")
_PARTS = ("data", "indices", "indptr")
_META = "prepared.json"


def save_prepared(prepared: PreparedGraph, folder: str | Path) -> Path:
    """Write ``prepared`` into ``folder`` (which must exist); returns the folder."""
    folder = Path(folder)
    meta: dict[str, object] = {"num_classes": prepared.num_classes, "summary": prepared.summary}
    for f in fields(PreparedGraph):
        value = getattr(prepared, f.name)
        if f.name in _MATRICES:
            meta[f"{f.name}_shape"] = list(value.shape)
            for part in _PARTS:
                np.save(folder / f"{f.name}.{part}.npy", getattr(value, part), allow_pickle=False)
        elif isinstance(value, np.ndarray):
            np.save(folder / f"{f.name}.npy", value, allow_pickle=False)
    (folder / _META).write_text(json.dumps(meta))
    return folder


def _matrix(folder: Path, name: str, shape: list[int]) -> sp.csr_array:
    data, indices, indptr = (np.load(folder / f"{name}.{part}.npy", mmap_mode="r")
                             for part in _PARTS)
    return sp.csr_array((data, indices, indptr), shape=tuple(shape), copy=False)


def load_prepared(folder: str | Path) -> PreparedGraph:
    """The prepared graph :func:`save_prepared` wrote, its arrays memory-mapped read-only."""
    folder = Path(folder)
    meta = json.loads((folder / _META).read_text())
    values: dict[str, object] = {"num_classes": meta["num_classes"], "summary": meta["summary"]}
    for f in fields(PreparedGraph):
        if f.name in _MATRICES:
            values[f.name] = _matrix(folder, f.name, meta[f"{f.name}_shape"])
        elif f.name not in values:
            values[f.name] = np.load(folder / f"{f.name}.npy", mmap_mode="r")
    return PreparedGraph(**values)  # type: ignore[arg-type]
