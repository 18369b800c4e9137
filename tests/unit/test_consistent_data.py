"""Data that disagrees with itself is refused, by every loader, with one message naming the file.

The rules (each loader's module docstring states how they apply to its format):

1. a vertex id that the dataset does not list (an edge, a feature row or a label row naming a
   vertex beyond the listed ones) is an error naming the file, the line and the valid range;
   the graph never grows to fit an id;
2. a wild id (10**12) is that same one-line error, raised before anything is sized from it;
3. a vertex listed twice (two label rows, two test-index lines) is refused, naming both lines;
4. a split without training vertices is refused by :class:`~pargnn.graph.Graph` whichever loader
   built it; empty validation and test splits are allowed.
"""

from __future__ import annotations

import pickle
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pargnn.errors import DatasetError, GraphError, PargnnError
from pargnn.graph import Graph
from pargnn.graph.datasets import load_dataset
from pargnn.graph.loaders import from_pyg, load_edgelist, load_karateclub, load_npz
from tests.unit.data_files import EDGES, FEATURES, TARGET
from tests.unit.data_files import karateclub as _karateclub
from tests.unit.data_files import npz as _npz

HUGE = 10**12
# Refusing a wild id may cost a few small arrays, never anything sized from the id.
PEAK_LIMIT = 64 * 2**20

def _edgelist(folder: Path, edges: str = "0 1\n1 2\n", labels: str = "id,label\n0,0\n2,1\n"
              ) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "g.features.csv").write_text("a,b\n1,0\n0,1\n1,1\n")
    (folder / "g.labels.csv").write_text(labels)
    (folder / "g.txt").write_text(edges)
    return folder / "g.txt"


def _pyg(**attrs: object) -> SimpleNamespace:
    base: dict[str, object] = {"edge_index": np.array([[0, 1], [1, 2]]), "x": np.ones((3, 2)),
                               "y": np.array([0, 1, 0])}
    base.update(attrs)
    return SimpleNamespace(**base)


def _raises(load: Callable[[], object], *phrases: str,
            kind: type[PargnnError] = DatasetError) -> str:
    """The one-line message of the error ``load`` raises, checked to contain every phrase."""
    with pytest.raises(kind) as err:
        load()
    msg = str(err.value)
    assert "\n" not in msg
    for phrase in phrases:
        assert phrase in msg, f"{phrase!r} not in {msg!r}"
    return msg


# -- 1. an id the dataset does not list ----------------------------------------------------------
@pytest.mark.parametrize(("file", "edges", "features", "line"), [
    ("edges.csv", EDGES + "2,99\n", FEATURES, "line 4"),
    ("features.csv", EDGES, FEATURES + "3,0,1\n", "line 5"),
])
def test_karateclub_refuses_a_vertex_target_csv_does_not_list(
    tmp_path: Path, file: str, edges: str, features: str, line: str
) -> None:
    folder = _karateclub(tmp_path / "kc", edges, features)
    _raises(lambda: load_karateclub(folder), f"{folder / file}, {line}:", "is out of range",
            f"only the 3 vertices that {folder / 'target.csv'} lists may be named",
            "valid ids are 0..2")


def test_karateclub_target_ids_must_number_the_listed_vertices(tmp_path: Path) -> None:
    folder = _karateclub(tmp_path / "kc", target="id,target\n0,0\n1,1\n5,0\n")
    _raises(lambda: load_karateclub(folder), f"{folder / 'target.csv'}, line 4:",
            "vertex id 5 is out of range", "lists 3 vertices", "valid ids are 0..2")


def test_karateclub_vertex_without_features_or_edges_is_kept(tmp_path: Path) -> None:
    """Listed in target.csv is enough: no feature rows means a zero vector, no edges isolated."""
    folder = _karateclub(tmp_path / "kc", edges="id_1,id_2\n0,1\n",
                         features="node_id,feature_id,value\n0,0,1\n")
    g = load_karateclub(folder)
    assert g.num_nodes == 3 and g.features[2].tolist() == [0.0]
    assert g.labels.tolist() == [0, 1, 0]


@pytest.mark.parametrize(("edges", "labels", "phrases"), [
    ("0 1\n1 3\n", "id,label\n0,0\n", ("g.txt, line 2:", "target vertex id 3 is out of range",
                                       "have 3 rows", "valid ids are 0..2")),
    ("0 1\n", "id,label\n0,0\n4,1\n", ("g.labels.csv, line 3:", "vertex id 4 is out of range",
                                       "valid ids are 0..2")),
])
def test_edgelist_refuses_a_vertex_the_features_do_not_list(
    tmp_path: Path, edges: str, labels: str, phrases: tuple[str, ...]
) -> None:
    path = _edgelist(tmp_path, edges, labels)
    _raises(lambda: load_edgelist(path), *phrases)


@pytest.mark.parametrize(("arrays", "phrases"), [
    ({"indices": np.array([1, 3])},
     ("edge index 3 is out of range for a graph with 3 vertices", "at indices[1]",
      "valid ids are 0..2")),
    ({"indices": np.array([-1, 0])}, ("edge index -1 is out of range", "at indices[0]")),
    ({"features": np.ones((5, 2), np.float32)},
     ("features has 5 rows but labels has 3", "needs 3")),
    ({"indptr": np.array([0, 1, 2, 2, 2])}, ("indptr has 5 entries but labels has 3", "needs 4")),
])
def test_npz_arrays_that_disagree_on_the_vertex_count(
    tmp_path: Path, arrays: dict[str, object], phrases: tuple[str, ...]
) -> None:
    path = _npz(tmp_path / "g.npz", **arrays)
    _raises(lambda: load_npz(path), str(path), *phrases)


@pytest.mark.parametrize(("attrs", "phrases"), [
    ({"edge_index": np.array([[0, 1], [1, 3]])},
     ("edge_index[1, 1] names vertex 3, out of range for 3 vertices", "valid ids are 0..2",
      "rows of x")),
    ({"edge_index": np.array([[0, -2], [1, 1]])}, ("edge_index[0, 1] names vertex -2",)),
    ({"num_nodes": 5}, ("num_nodes is 5 but x has 3 rows",)),
])
def test_from_pyg_refuses_ids_beyond_x(attrs: dict[str, object], phrases: tuple[str, ...]) -> None:
    _raises(lambda: from_pyg(_pyg(**attrs)), *phrases)


def test_planetoid_refuses_an_edge_beyond_the_listed_vertices(cora_copy: Path) -> None:
    graph = cora_copy / "ind.cora.graph"
    graph.write_bytes(pickle.dumps({0: [1, 2708], 1: [0]}, protocol=2))
    _raises(lambda: load_dataset(str(cora_copy)), str(graph), "edge 0 -> 2708",
            "the files list 2708 vertices", "valid ids are 0..2707")


def test_planetoid_refuses_an_adjacency_key_beyond_the_listed_vertices(cora_copy: Path) -> None:
    graph = cora_copy / "ind.cora.graph"
    graph.write_bytes(pickle.dumps({0: [1], 1: [0], 5000: []}, protocol=2))
    _raises(lambda: load_dataset(str(cora_copy)), str(graph), "has a key 5000, out of range",
            "valid ids are 0..2707")


def test_planetoid_refuses_a_test_id_among_the_non_test_vertices(cora_copy: Path) -> None:
    index = cora_copy / "ind.cora.test.index"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(["5", *lines[1:]]) + "\n")
    _raises(lambda: load_dataset(str(cora_copy)), f"{index}, line 1:",
            "test vertex 5 is out of range", "valid test ids are 1708..2707")


# -- 2. a wild id is the same one-line error, before anything is sized from it --------------------
def _wild_karateclub(root: Path, file: str) -> Callable[[], object]:
    texts = {"edges.csv": EDGES, "features.csv": FEATURES, "target.csv": TARGET}
    texts[file] += {"edges.csv": f"0,{HUGE}\n", "features.csv": f"{HUGE},0,1\n",
                    "target.csv": f"{HUGE},1\n"}[file]
    folder = _karateclub(root / "kc", texts["edges.csv"], texts["features.csv"],
                         texts["target.csv"])
    return lambda: load_karateclub(folder)


def _wild(kind: str, root: Path) -> Callable[[], object]:
    if kind.startswith("karateclub-"):
        return _wild_karateclub(root, kind.removeprefix("karateclub-"))
    if kind == "edgelist-edge":
        path = _edgelist(root, edges=f"0 1\n1 {HUGE}\n")
        return lambda: load_edgelist(path)
    if kind == "edgelist-labels":
        path = _edgelist(root, labels=f"id,label\n0,0\n{HUGE},1\n")
        return lambda: load_edgelist(path)
    if kind == "npz":
        npz = _npz(root / "g.npz", indices=np.array([1, HUGE], dtype=np.int64))
        return lambda: load_npz(npz)
    return lambda: from_pyg(_pyg(edge_index=np.array([[0, 1], [1, HUGE]], dtype=np.int64)))


@pytest.mark.parametrize(("kind", "phrases"), [
    ("karateclub-edges.csv", ("edges.csv, line 4:", f"vertex id {HUGE} is out of range",
                              "valid ids are 0..2")),
    ("karateclub-features.csv", ("features.csv, line 5:", f"node id {HUGE} is out of range",
                                 "valid ids are 0..2")),
    ("karateclub-target.csv", ("target.csv, line 5:", f"vertex id {HUGE} is out of range",
                               "valid ids are 0..3")),
    ("edgelist-edge", ("g.txt, line 2:", f"target vertex id {HUGE} is out of range",
                       "valid ids are 0..2")),
    ("edgelist-labels", ("g.labels.csv, line 3:", f"vertex id {HUGE} is out of range",
                         "valid ids are 0..2")),
    ("npz", ("g.npz", f"edge index {HUGE} is out of range", "valid ids are 0..2")),
    ("pyg", (f"names vertex {HUGE}, out of range for 3 vertices", "valid ids are 0..2")),
])
def test_a_wild_id_is_refused_before_anything_large_is_allocated(
    tmp_path: Path, kind: str, phrases: tuple[str, ...]
) -> None:
    load = _wild(kind, tmp_path)
    tracemalloc.start()
    try:
        _raises(load, *phrases)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"refusing the id allocated {peak / 2**20:.0f} MiB"


def test_planetoid_wild_test_id(cora_copy: Path) -> None:
    index = cora_copy / "ind.cora.test.index"
    lines = index.read_text().splitlines()
    index.write_text("\n".join([*lines[:-1], str(HUGE)]) + "\n")
    _raises(lambda: load_dataset(str(cora_copy)), f"{index}, line {len(lines)}:",
            f"test vertex {HUGE} is out of range", "the files list 2708 vertices",
            "valid test ids are 1708..2707")


def test_karateclub_wild_feature_id_without_compaction(tmp_path: Path) -> None:
    folder = _karateclub(tmp_path / "kc", features=FEATURES + f"2,{HUGE},1\n")
    assert load_karateclub(folder).num_features == 3  # compacted: only the ids that occur
    _raises(lambda: load_karateclub(folder, compact_features=False),
            f"{folder / 'features.csv'}, line 5:", f"feature id {HUGE} would make",
            "more than this machine's", "compact_features=True")


# -- 3. a vertex listed twice ----------------------------------------------------------------------
@pytest.mark.parametrize(("target", "targets"), [
    ("id,target\n0,0\n1,1\n2,0\n1,0\n", "targets 1 and 0"),  # two different labels
    ("id,target\n0,0\n1,1\n1,1\n", "targets 1 and 1"),  # the same label twice: refused too
])
def test_karateclub_refuses_a_vertex_listed_twice(tmp_path: Path, target: str,
                                                  targets: str) -> None:
    folder = _karateclub(tmp_path / "kc", target=target)
    _raises(lambda: load_karateclub(folder), f"{folder / 'target.csv'}, lines 3 and ",
            "vertex 1 is listed twice", f"({targets})", "list each vertex once")


@pytest.mark.parametrize(("labels", "phrase"), [
    ("id,label\n2,1\n0,0\n2,0\n", "labels 1 and 0"),
    ("id,label\n0,0\n2,1\n2,1\n", "labels 1 and 1"),
])
def test_edgelist_refuses_a_vertex_labelled_twice(tmp_path: Path, labels: str,
                                                  phrase: str) -> None:
    path = _edgelist(tmp_path, labels=labels)
    lines = "lines 2 and 4" if labels.startswith("id,label\n2") else "lines 3 and 4"
    _raises(lambda: load_edgelist(path), f"g.labels.csv, {lines}:",
            "vertex 2 is listed twice", f"({phrase})", "list each vertex once")


def test_planetoid_refuses_a_test_vertex_listed_twice(cora_copy: Path) -> None:
    index = cora_copy / "ind.cora.test.index"
    lines = index.read_text().splitlines()
    index.write_text("\n".join([*lines[:-1], lines[0]]) + "\n")
    _raises(lambda: load_dataset(str(cora_copy)), f"{index}, lines 1 and {len(lines)}:",
            f"test vertex {lines[0]} is listed twice")


# -- 4. an empty train split ----------------------------------------------------------------------
def _tiny_graph(train: list[bool], val: list[bool], test: list[bool], **meta: object) -> Graph:
    return Graph(name="tiny", indptr=np.array([0, 1, 2, 2]), indices=np.array([1, 0]),
                 features=np.ones((3, 1)), labels=np.array([0, 1, 0]),
                 train_mask=np.array(train), val_mask=np.array(val), test_mask=np.array(test),
                 meta=dict(meta))


def test_graph_refuses_an_empty_train_split() -> None:
    msg = _raises(lambda: _tiny_graph([False] * 3, [True, False, False], [False, True, True]),
                  "tiny: the train split is empty", "none of the 3 vertices, 3 of them labelled",
                  "give a train_mask that selects at least one labelled vertex",
                  kind=GraphError)
    assert "Empty validation and test splits are allowed" in msg


def test_graph_allows_empty_validation_and_test_splits() -> None:
    g = _tiny_graph([True, True, False], [False] * 3, [False] * 3)
    assert g.summary()["val"] == 0 and g.summary()["test"] == 0


def test_npz_stored_masks_without_training_vertices(tmp_path: Path) -> None:
    path = _npz(tmp_path / "g.npz", val_mask=np.array([True, False, False]),
                test_mask=np.array([False, True, True]))
    _raises(lambda: load_npz(path), "g: the train split is empty", "split: stored",
            "give a train_mask", kind=GraphError)
    only_train = _npz(tmp_path / "t.npz", train_mask=np.array([True, True, True]))
    assert load_npz(only_train).summary()["val"] == 0


def test_npz_random_split_without_labelled_vertices(tmp_path: Path) -> None:
    path = _npz(tmp_path / "g.npz", labels=np.array([-1, -1, -1]), num_classes=2)
    _raises(lambda: load_npz(path), "the train split is empty", "0 of them labelled",
            "split: random 60/20/20 seed 0", "label more vertices", kind=GraphError)


def test_from_pyg_masks_without_training_vertices() -> None:
    data = _pyg(train_mask=np.zeros(3, bool), test_mask=np.array([True, True, False]))
    _raises(lambda: from_pyg(data), "pyg: the train split is empty", kind=GraphError)


def test_planetoid_without_training_labels(cora_copy: Path) -> None:
    (cora_copy / "ind.cora.y").write_bytes(pickle.dumps(np.zeros((0, 7)), protocol=4))
    _raises(lambda: load_dataset(str(cora_copy)), f"{cora_copy / 'ind.cora.y'}: holds no",
            "the train split would be empty")


@pytest.mark.parametrize("load", ["karateclub", "edgelist"])
def test_text_formats_without_any_label(tmp_path: Path, load: str) -> None:
    """No labelled vertex means no class and no training vertex: one line, before training."""
    if load == "karateclub":
        folder = _karateclub(tmp_path / "kc", target="id,target\n0,-1\n1,-1\n2,-1\n")
        _raises(lambda: load_karateclub(folder), "no vertex has a label", kind=GraphError)
    else:
        path = _edgelist(tmp_path, labels="id,label\n0,-1\n")
        _raises(lambda: load_edgelist(path), "no vertex has a label", kind=GraphError)


def test_synthetic_train_fraction_too_small_for_the_nodes() -> None:
    with pytest.raises(DatasetError) as err:  # a spec error adds a line listing the valid keys
        load_dataset("rmat:nodes=2,degree=1,train=0.2")
    first = str(err.value).splitlines()[0]
    assert "train=0.2 is invalid" in first and "none of the 2 vertices in the train split" in first
    assert "train * nodes at least 1" in first


def test_real_twitch_still_loads(shared_datasets: Path) -> None:
    g = load_dataset("twitch-engb", data_root=shared_datasets)
    assert (g.num_nodes, g.num_edges) == (7126, 70648)
    assert re.fullmatch(r"random 60/20/20 seed \d+", str(g.meta["split"]))
