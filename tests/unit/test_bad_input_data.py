"""Bad dataset files give a DatasetError/GraphError that names the problem, never a traceback."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from pargnn.errors import DatasetError, GraphError
from pargnn.graph.datasets import load_dataset
from pargnn.graph.loaders import from_pyg, load_edgelist, load_karateclub, load_npz
from tests.unit.data_files import karateclub as _karateclub
from tests.unit.data_files import npz as _npz


# -- missing files and unknown names -----------------------------------------------------------
def test_missing_named_dataset_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset("cora", data_root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "planetoid" / "Cora" / "raw" / "ind.cora.x") in msg
    assert f"data root {tmp_path}" in msg
    assert "--data-root" in msg and "PARGNN_DATA" in msg
    assert "DIR/planetoid/Cora/raw/ind.cora.x" in msg


def test_missing_named_dataset_from_environment(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARGNN_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match=r"from \$PARGNN_DATA") as err:
        load_dataset("twitch-engb")
    assert str(tmp_path / "twitch-engb" / "edges.csv") in str(err.value)


def test_one_missing_planetoid_file(cora_copy: Path) -> None:
    (cora_copy / "ind.cora.ty").unlink()
    with pytest.raises(DatasetError, match="ind.cora.ty"):
        load_dataset(str(cora_copy))


def test_unknown_dataset_name() -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset("imagenet")
    msg = str(err.value)
    assert "unknown dataset 'imagenet'" in msg
    for expected in ("cora", "citeseer", "twitch-engb", "rmat:nodes=", "sbm:nodes="):
        assert expected in msg


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_dataset(str(tmp_path / "graph.npz"))


def test_unrecognised_folder_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no dataset recognised"):
        load_dataset(str(tmp_path))
    (tmp_path / "g.parquet").write_bytes(b"x")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_dataset(str(tmp_path / "g.parquet"))


# -- pickles -----------------------------------------------------------------------------------
def test_truncated_pickle(cora_copy: Path) -> None:
    allx = cora_copy / "ind.cora.allx"
    allx.write_bytes(allx.read_bytes()[: allx.stat().st_size // 2])
    with pytest.raises(DatasetError) as err:
        load_dataset(str(cora_copy))
    assert str(allx) in str(err.value) and "truncated or corrupt" in str(err.value)


def test_garbage_pickle(cora_copy: Path) -> None:
    (cora_copy / "ind.cora.y").write_bytes(b"this is not a pickle at all")
    with pytest.raises(DatasetError, match=r"ind\.cora\.y.*truncated or corrupt"):
        load_dataset(str(cora_copy))


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


class _RunsEval:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, (self.code,))


@pytest.mark.parametrize(
    ("make", "forbidden"),
    [
        (lambda marker: _RunsShell(f"touch {marker}"), "system"),
        # protocol 2 spells builtins as Python 2's __builtin__
        (lambda marker: _RunsEval(f"open({str(marker)!r}, 'w').write('ran')"), "__builtin__.eval"),
    ],
)
def test_pickle_naming_a_forbidden_callable_does_not_run(
    cora_copy: Path, tmp_path: Path, make: object, forbidden: str
) -> None:
    marker = tmp_path / "payload-ran"
    graph_file = cora_copy / "ind.cora.graph"
    payload = {0: [1], 1: make(marker)}  # type: ignore[operator]
    graph_file.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DatasetError) as err:
        load_dataset(str(cora_copy))
    assert not marker.exists(), "the pickle payload was executed"
    msg = str(err.value)
    assert str(graph_file) in msg and forbidden in msg and "refusing" in msg


def test_non_numeric_test_index(cora_copy: Path) -> None:
    (cora_copy / "ind.cora.test.index").write_text("1708\n17x9\n")
    with pytest.raises(DatasetError, match=r"test\.index, line 2: '17x9'"):
        load_dataset(str(cora_copy))


# -- CSV ---------------------------------------------------------------------------------------
def test_csv_non_numeric_feature_cell(tmp_path: Path) -> None:
    folder = _karateclub(tmp_path / "kc", "id_1,id_2\n0,1\n",
                         "node_id,feature_id,value\n0,0,1\n1,abc,1\n", "id,target\n0,0\n1,1\n")
    with pytest.raises(DatasetError) as err:
        load_karateclub(folder)
    msg = str(err.value)
    assert str(folder / "features.csv") in msg and "line 3" in msg and "'abc'" in msg


def test_csv_non_numeric_edge_and_target_cells(tmp_path: Path) -> None:
    feats = "node_id,feature_id,value\n0,0,1\n"
    bad_edge = _karateclub(tmp_path / "e", "id_1,id_2\n0,1\n1,\n", feats, "id,target\n0,0\n")
    with pytest.raises(DatasetError, match=r"edges\.csv, line 3, column 2: an empty cell"):
        load_karateclub(bad_edge)
    bad_target = _karateclub(tmp_path / "t", "id_1,id_2\n0,1\n", feats,
                             "id,target\n0,0\n1,maybe\n")
    with pytest.raises(DatasetError, match=r"target\.csv, line 3, column 2: the target 'maybe'"):
        load_karateclub(bad_target)


def test_csv_fractional_vertex_id(tmp_path: Path) -> None:
    folder = _karateclub(tmp_path, "id_1,id_2\n0,1.5\n", "node_id,feature_id,value\n0,0,1\n",
                         "id,target\n0,0\n")
    with pytest.raises(DatasetError, match=r"edges\.csv, line 2: vertex id 1\.5 is not an integer"):
        load_karateclub(folder)


def test_karateclub_missing_file(tmp_path: Path) -> None:
    (tmp_path / "edges.csv").write_text("id_1,id_2\n0,1\n")
    with pytest.raises(DatasetError, match="features.csv"):
        load_dataset(str(tmp_path))


def test_nan_in_csv_features(tmp_path: Path) -> None:
    folder = _karateclub(tmp_path, "id_1,id_2\n0,1\n", "node_id,feature_id,value\n0,0,nan\n",
                         "id,target\n0,0\n1,1\n")
    with pytest.raises(GraphError, match="NaN or inf"):
        load_karateclub(folder)


# -- edge lists --------------------------------------------------------------------------------
def test_edgelist_without_sidecars(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("0 1\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(str(path))
    msg = str(err.value)
    assert "training needs both" in msg
    assert str(tmp_path / "g.features.npy") in msg and str(tmp_path / "g.features.csv") in msg
    assert str(tmp_path / "g.labels.csv") in msg


def test_edgelist_vertex_id_beyond_features(tmp_path: Path) -> None:
    path = tmp_path / "g.edges"
    path.write_text("# header comment\n0 1\n1 3\n")
    np.save(tmp_path / "g.features.npy", np.ones((3, 2)))
    np.save(tmp_path / "g.labels.npy", np.array([0, 1, 0]))
    with pytest.raises(DatasetError) as err:
        load_edgelist(path)
    msg = str(err.value)
    assert f"{path}, line 3" in msg and "target vertex id 3 is out of range" in msg


def test_edgelist_bad_cells(tmp_path: Path) -> None:
    np.save(tmp_path / "g.features.npy", np.ones((3, 2)))
    np.save(tmp_path / "g.labels.npy", np.array([0, 1, 0]))
    path = tmp_path / "g.el"
    path.write_text("0 1\n1 two\n")
    with pytest.raises(DatasetError, match=r"g\.el, line 2, column 2: 'two' is not a number"):
        load_edgelist(path)
    path.write_text("0 1\n1 2 0.5\n")
    with pytest.raises(DatasetError, match=r"g\.el, line 2: 3 columns, but the first"):
        load_edgelist(path)
    path.write_text("0 -1\n")
    with pytest.raises(DatasetError, match=r"line 1: target vertex id -1 is not an integer >= 0"):
        load_edgelist(path)


def test_edgelist_object_npy_refused(tmp_path: Path) -> None:
    (tmp_path / "g.txt").write_text("0 1\n")
    np.save(tmp_path / "g.features.npy", np.array([object(), 1], dtype=object), allow_pickle=True)
    np.save(tmp_path / "g.labels.npy", np.array([0, 1]))
    with pytest.raises(DatasetError, match="object arrays are refused"):
        load_edgelist(tmp_path / "g.txt")


def test_empty_edgelist_graph(tmp_path: Path) -> None:
    (tmp_path / "g.txt").write_text("# nothing\n")
    (tmp_path / "g.features.csv").write_text("f0,f1\n")
    (tmp_path / "g.labels.csv").write_text("")
    with pytest.raises(DatasetError, match="no data rows"):
        load_edgelist(tmp_path / "g.txt")


# -- npz ---------------------------------------------------------------------------------------
def test_npz_edge_index_out_of_range(tmp_path: Path) -> None:
    path = _npz(tmp_path / "g.npz", indices=np.array([1, 3]))
    with pytest.raises(DatasetError) as err:
        load_npz(path)
    msg = str(err.value)
    assert str(path) in msg and "edge index 3 is out of range for a graph with 3" in msg
    assert "at indices[1]; valid ids are 0..2" in msg


def test_npz_nan_features(tmp_path: Path) -> None:
    x = np.ones((3, 2), dtype=np.float32)
    x[1, 1] = np.nan
    with pytest.raises(GraphError, match=r"NaN or inf .*vertex 1, feature 1"):
        load_npz(_npz(tmp_path / "g.npz", features=x))


def test_npz_label_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="label -3 is out of range"):
        load_npz(_npz(tmp_path / "a.npz", labels=np.array([0, -3, 1])))
    with pytest.raises(GraphError, match="label 5 is out of range for 2 classes"):
        load_npz(_npz(tmp_path / "b.npz", labels=np.array([0, 5, 1]), num_classes=2))


def test_npz_empty_graph(tmp_path: Path) -> None:
    path = _npz(tmp_path / "g.npz", indptr=np.array([0]), indices=np.array([], dtype=np.int64),
                features=np.zeros((0, 2), np.float32), labels=np.array([], dtype=np.int64))
    with pytest.raises(GraphError, match=r"empty \(0 vertices\)"):
        load_npz(path)


def test_scipy_sparse_npz_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "adj.npz"
    sp.save_npz(path, sp.csr_matrix(np.eye(3)))
    with pytest.raises(DatasetError) as err:
        load_dataset(str(path))
    msg = str(err.value)
    assert "scipy.sparse.save_npz" in msg and "features and labels" in msg
    assert "indptr, indices, features, labels" in msg


def test_npz_corrupt_and_object_arrays(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match=r"junk\.npz"):
        load_npz(junk)
    obj = tmp_path / "obj.npz"
    np.savez(obj, indptr=np.array([0, 0]), indices=np.array([], dtype=np.int64),
             features=np.array([[object()]], dtype=object), labels=np.array([0]))
    with pytest.raises(DatasetError, match="object arrays are refused"):
        load_npz(obj)


def test_npz_overlapping_masks(tmp_path: Path) -> None:
    m = np.array([True, False, False])
    with pytest.raises(GraphError, match="overlap"):
        load_npz(_npz(tmp_path / "g.npz", train_mask=m, test_mask=m))


# -- PyG ---------------------------------------------------------------------------------------
def test_from_pyg_missing_attribute() -> None:
    with pytest.raises(DatasetError, match="has no 'edge_index'"):
        from_pyg(SimpleNamespace(x=np.ones((2, 1)), y=np.array([0, 1])))


def test_from_pyg_edge_out_of_range() -> None:
    data = SimpleNamespace(edge_index=np.array([[0], [2]]), x=np.ones((2, 1)), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="vertex 2, out of range for 2 vertices"):
        from_pyg(data)


def test_from_pyg_multilabel_refused() -> None:
    data = SimpleNamespace(edge_index=np.array([[0], [1]]), x=np.ones((2, 1)), y=np.ones((2, 3)))
    with pytest.raises(DatasetError, match="multi-label"):
        from_pyg(data)


# -- the same files through the command line -----------------------------------------------------
def _bad_dataset(kind: str, root: Path, cora: Path) -> tuple[Path, str]:
    """A dataset path of the given kind of badness, and a phrase its error must contain."""
    if kind == "truncated-pickle":
        allx = cora / "ind.cora.allx"
        allx.write_bytes(allx.read_bytes()[:100])
        return cora, "truncated or corrupt"
    if kind == "forbidden-class":
        (cora / "ind.cora.graph").write_bytes(
            pickle.dumps({0: _RunsShell(f"touch {root / 'ran'}")}, protocol=2))
        return cora, "refusing"
    if kind.startswith("csv-"):
        return _bad_karateclub(kind, root / "kc")
    arrays: dict[str, dict[str, object]] = {
        "edge-out-of-range": {"indices": np.array([1, 7])},
        "nan-features": {"features": np.full((3, 2), np.nan, np.float32)},
        "label-out-of-range": {"labels": np.array([0, 9, 1]), "num_classes": 2},
        "empty-graph": {"indptr": np.array([0]), "indices": np.array([], np.int64),
                        "features": np.zeros((0, 2), np.float32),
                        "labels": np.array([], np.int64)},
        "empty-train": {"test_mask": np.array([True, True, True])},
    }
    phrases = {"edge-out-of-range": "edge index 7 is out of range", "nan-features": "NaN",
               "label-out-of-range": "label 9 is out of range", "empty-graph": "empty",
               "empty-train": "the train split is empty"}
    return _npz(root / f"{kind}.npz", **arrays[kind]), phrases[kind]


def _bad_karateclub(kind: str, folder: Path) -> tuple[Path, str]:
    """A karateclub folder with one kind of bad data, and a phrase its error must contain."""
    edges, target = "id_1,id_2\n0,1\n", "id,target\n0,0\n1,1\n"
    feats = "node_id,feature_id,value\n0,0,1\n"
    cases = {
        "csv-non-numeric": (edges, "node_id,feature_id,value\n0,0,x\n", target,
                            "features.csv"),
        "csv-unlisted-vertex": (edges + "1,99\n", feats, target,
                                "edges.csv, line 3: vertex id 99 is out of range"),
        "csv-wild-id": (edges + f"1,{10**12}\n", feats, target, "(valid ids are 0..1)"),
        "csv-duplicate-target": (edges, feats, target + "1,0\n",
                                 "target.csv, lines 3 and 4: vertex 1 is listed twice"),
    }
    e, f, t, phrase = cases[kind]
    return _karateclub(folder, e, f, t), phrase


@pytest.mark.parametrize("kind", [
    "truncated-pickle", "forbidden-class", "csv-non-numeric", "csv-unlisted-vertex",
    "csv-wild-id", "csv-duplicate-target", "edge-out-of-range", "nan-features",
    "label-out-of-range", "empty-graph", "empty-train",
])
def test_cli_refuses_bad_data_cleanly(kind: str, cora_copy: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from pargnn.cli import EXIT_USER_ERROR, main

    data_dir = tmp_path / "bad"
    data_dir.mkdir()
    path, phrase = _bad_dataset(kind, data_dir, cora_copy)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(["train", "--dataset", str(path), "--epochs", "2", "--out",
                 str(out_dir / "run.json")])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code == EXIT_USER_ERROR
    assert phrase in text and "pargnn: error:" in text
    assert len(text.strip().splitlines()) == 1, text
    assert "Traceback" not in text
    assert list(out_dir.iterdir()) == [], "an output file was left behind"
    assert not (data_dir / "ran").exists()
