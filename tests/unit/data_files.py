"""Small hand-made dataset files for the bad-input tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EDGES = "id_1,id_2\n0,1\n1,2\n"
FEATURES = "node_id,feature_id,value\n0,0,1\n1,1,1\n2,0,1\n"
TARGET = "id,target\n0,0\n1,1\n2,0\n"


def karateclub(folder: Path, edges: str = EDGES, features: str = FEATURES,
               target: str = TARGET) -> Path:
    """A karateclub folder with these three files (a consistent 3-vertex graph by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("edges.csv", edges), ("features.csv", features), ("target.csv", target)):
        (folder / name).write_text(text)
    return folder


def npz(path: Path, **arrays: object) -> Path:
    """A pargnn ``.npz`` of a 3-vertex graph, with ``arrays`` replacing or adding entries."""
    base: dict[str, object] = {
        "indptr": np.array([0, 1, 2, 2]), "indices": np.array([1, 0]),
        "features": np.ones((3, 2), dtype=np.float32), "labels": np.array([0, 1, 0]),
    }
    base.update(arrays)
    np.savez(path, **base)  # type: ignore[arg-type]
    return path
