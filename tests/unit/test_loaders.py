"""The dataset loaders read the real files correctly and agree with the published conventions."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pargnn.errors import DatasetError
from pargnn.graph import Graph
from pargnn.graph.datasets import (
    NAMED_DATASETS,
    default_data_root,
    describe_datasets,
    load_dataset,
    named_dataset,
)
from pargnn.graph.loaders import (
    from_pyg,
    load_edgelist,
    load_karateclub,
    load_npz,
    load_planetoid,
    save_npz,
)
from pargnn.graph.splits import random_split


def _counts(g: Graph) -> tuple[int, int, int, int, int, int, int]:
    return (g.num_nodes, g.num_edges, g.num_features, g.num_classes,
            int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum()))


def _is_symmetric(g: Graph) -> bool:
    a = g.adjacency()
    return (a != a.T).nnz == 0


def _has_self_loops(g: Graph) -> bool:
    return bool(g.adjacency().diagonal().any())


# -- Planetoid ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cora(shared_datasets: Path) -> Graph:
    return load_dataset("cora", data_root=shared_datasets)


@pytest.fixture(scope="module")
def citeseer(shared_datasets: Path) -> Graph:
    return load_dataset("citeseer", data_root=shared_datasets)


def test_cora_counts_and_public_split(cora: Graph) -> None:
    assert cora.name == "cora"
    assert _counts(cora) == (2708, 10556, 1433, 7, 140, 500, 1000)
    assert np.array_equal(np.flatnonzero(cora.train_mask), np.arange(140))
    assert np.array_equal(np.flatnonzero(cora.val_mask), np.arange(140, 640))
    assert np.array_equal(np.flatnonzero(cora.test_mask), np.arange(1708, 2708))
    # 20 training vertices per class: the public split of Yang et al.
    assert np.array_equal(np.bincount(cora.labels[cora.train_mask]), [20] * 7)


def test_cora_graph_and_features(cora: Graph) -> None:
    assert _is_symmetric(cora)
    assert not _has_self_loops(cora)
    assert cora.weights is None
    assert (cora.labels >= 0).all()
    # raw binary bag-of-words: not row-normalised by the loader
    assert set(np.unique(cora.features).tolist()) == {0.0, 1.0}
    assert cora.features.dtype == np.float32


def test_cora_test_rows_follow_test_index(shared_datasets: Path, cora: Graph) -> None:
    """tx row k belongs to vertex test.index[k], whose ids are not in order."""
    raw = shared_datasets / "planetoid" / "Cora" / "raw"
    test_index = np.loadtxt(raw / "ind.cora.test.index", dtype=np.int64)
    assert not np.all(np.diff(test_index) > 0)
    from pargnn.graph.loaders.planetoid import restricted_load

    tx = restricted_load(raw / "ind.cora.tx").toarray()  # type: ignore[attr-defined]
    ty = restricted_load(raw / "ind.cora.ty")
    assert np.array_equal(cora.features[test_index], tx)
    assert np.array_equal(cora.labels[test_index], np.argmax(ty, axis=1))


def test_citeseer_counts_and_missing_test_vertices(citeseer: Graph) -> None:
    assert _counts(citeseer) == (3327, 9104, 3703, 6, 120, 500, 1000)
    assert _is_symmetric(citeseer)
    assert not _has_self_loops(citeseer)
    unlabelled = np.flatnonzero(citeseer.labels < 0)
    # the 15 ids inside the test range that have no features and no label
    assert unlabelled.shape == (15,)
    assert unlabelled.min() >= 2312
    assert not citeseer.features[unlabelled].any()
    for mask in (citeseer.train_mask, citeseer.val_mask, citeseer.test_mask):
        assert not mask[unlabelled].any()


def test_planetoid_matches_pyg(shared_datasets: Path, cora: Graph) -> None:
    """Same edges, features, labels and masks as PyG's reader (when torch-geometric is here)."""
    pyg_io = pytest.importorskip(
        "torch_geometric.io", reason="needs the pyg extra (make test installs it)"
    )
    ref = pyg_io.read_planetoid_data(str(shared_datasets / "planetoid" / "Cora" / "raw"), "cora")
    ei = ref.edge_index.numpy()
    a = cora.adjacency().tocoo()
    mine = set(zip(a.row.tolist(), a.col.tolist(), strict=True))
    assert mine == set(zip(ei[0].tolist(), ei[1].tolist(), strict=True))
    assert np.array_equal(ref.x.numpy(), cora.features)
    assert np.array_equal(ref.y.numpy(), cora.labels)
    for m in ("train_mask", "val_mask", "test_mask"):
        assert np.array_equal(getattr(ref, m).numpy(), getattr(cora, m))


def test_planetoid_found_by_path(shared_datasets: Path) -> None:
    folder = shared_datasets / "planetoid" / "Cora"
    for spec in (folder, folder / "raw", folder / "raw" / "ind.cora.x"):
        g = load_dataset(str(spec))
        assert (g.name, g.num_nodes) == ("cora", 2708)


def test_cora_loads_quickly(shared_datasets: Path) -> None:
    import time

    start = time.perf_counter()
    load_planetoid(shared_datasets / "planetoid" / "Cora" / "raw", "cora")
    assert time.perf_counter() - start < 5.0  # ~0.1 s; the bound only catches a pathology


# -- karateclub CSV -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def twitch(shared_datasets: Path) -> Graph:
    return load_dataset("twitch-engb", data_root=shared_datasets)


def test_twitch_counts(twitch: Graph) -> None:
    # 35,324 undirected edges, no self-loops or duplicates: 70,648 directed
    assert _counts(twitch) == (7126, 70648, 2545, 2, 4276, 1425, 1425)
    assert _is_symmetric(twitch)
    assert not _has_self_loops(twitch)
    assert (twitch.labels >= 0).all()
    assert twitch.meta["split"] == "random 60/20/20 seed 0"


def test_twitch_feature_columns(shared_datasets: Path, twitch: Graph) -> None:
    ids = twitch.meta["feature_ids"]
    assert isinstance(ids, np.ndarray)
    assert ids.shape == (2545,) and np.all(np.diff(ids) > 0) and ids.max() == 3169
    assert twitch.features.any(axis=0).all()  # compacted: no all-zero column
    full = load_karateclub(shared_datasets / "twitch-engb", compact_features=False)
    assert full.num_features == 3170
    assert np.array_equal(full.features[:, ids], twitch.features)


def test_karateclub_musae_target_layout(tmp_path: Path) -> None:
    """The MUSAE Twitch target file: the id is new_id and the class is mature (True/False)."""
    (tmp_path / "edges.csv").write_text("id_1,id_2\n0,1\n1,2\n2,2\n1,0\n")
    (tmp_path / "features.csv").write_text("node_id,feature_id,value\n0,5,1\n2,7,1.0\n")
    (tmp_path / "target.csv").write_text(
        "id,days,mature,views,partner,new_id\n"
        "73045350,1459,False,9528,False,2\n"
        "61573865,1629,True,3615,False,0\n"
        "171421,2000,True,1,True,1\n"
    )
    g = load_karateclub(tmp_path)
    assert g.name == tmp_path.name
    assert g.labels.tolist() == [1, 1, 0]
    assert g.num_edges == 4  # 0-1 and 1-2 both ways; the self-loop and duplicate dropped
    assert g.features.tolist() == [[1, 0], [0, 0], [0, 1]]


def test_karateclub_two_column_target_without_header(tmp_path: Path) -> None:
    (tmp_path / "edges.csv").write_text("id_1,id_2\n0,1\n")
    (tmp_path / "features.csv").write_text("node_id,feature_id,value\n0,0,1\n1,0,2\n")
    (tmp_path / "target.csv").write_text("1,0\n0,-1\n")
    g = load_karateclub(tmp_path, name="tiny")
    assert g.labels.tolist() == [-1, 0]  # vertex 0 is listed with target -1: unlabelled
    assert not g.train_mask[0] and not g.val_mask[0] and not g.test_mask[0]


# -- npz ---------------------------------------------------------------------------------------
def test_npz_round_trip(tmp_path: Path, cora: Graph) -> None:
    path = save_npz(cora, tmp_path / "cora")
    assert path == tmp_path / "cora.npz"
    assert [p.name for p in tmp_path.iterdir()] == ["cora.npz"]  # no temporary file left
    g = load_npz(path)
    assert g.name == "cora" and g.num_classes == 7
    for attr in ("indptr", "indices", "features", "labels", "train_mask", "val_mask", "test_mask"):
        assert np.array_equal(getattr(g, attr), getattr(cora, attr)), attr
    assert g.weights is None
    assert load_dataset(str(path)).num_edges == cora.num_edges


def test_npz_weights_and_random_split(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, indptr=np.array([0, 2, 3, 3]), indices=np.array([1, 2, 0]),
             weights=np.array([0.5, 2.0, 1.0]), features=np.eye(3), labels=np.array([0, 1, 1]))
    g = load_npz(path)
    assert g.name == "w"
    assert g.weights is not None and g.weights.tolist() == [0.5, 2.0, 1.0]
    assert g.meta["split"] == "random 60/20/20 seed 0"
    total = g.train_mask.astype(int) + g.val_mask + g.test_mask
    assert total.tolist() == [1, 1, 1]


# -- edge list ---------------------------------------------------------------------------------
def test_edgelist_with_csv_sidecars(tmp_path: Path) -> None:
    (tmp_path / "g.edges").write_text("# a comment\n% another\n0 1\n1,2\n2\t0\n\n0 1\n")
    (tmp_path / "g.features.csv").write_text("a,b\n1,0\n0,1\n1,1\n")
    (tmp_path / "g.labels.csv").write_text("id,label\n0,0\n2,1\n")
    g = load_dataset(str(tmp_path / "g.edges"))
    assert g.name == "g"
    a = g.adjacency().toarray()
    assert a.tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]  # directed as written, deduplicated
    assert g.features.tolist() == [[1, 0], [0, 1], [1, 1]]
    assert g.labels.tolist() == [0, -1, 1]


def test_edgelist_weighted_with_npy_sidecars(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_text("0 1 0.5\n1 0 2\n0 1 0.25\n")
    np.save(tmp_path / "w.features.npy", np.ones((2, 4), dtype=np.float32))
    np.save(tmp_path / "w.labels.npy", np.array([1, 0]))
    g = load_edgelist(tmp_path / "w.txt")
    assert g.weights is not None
    assert g.adjacency().toarray().tolist() == [[0, 0.75], [2, 0]]
    assert g.num_features == 4 and g.num_classes == 2


# -- PyG ---------------------------------------------------------------------------------------
def test_from_pyg_duck_typed() -> None:
    data = SimpleNamespace(
        edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]),
        x=torch.rand(3, 5, requires_grad=True),
        y=torch.tensor([[0], [1], [0]]),
        train_mask=torch.tensor([True, False, False]),
        val_mask=torch.tensor([False, True, False]),
        test_mask=torch.tensor([False, False, True]),
    )
    g = from_pyg(data, name="duck")
    assert (g.name, g.num_nodes, g.num_edges, g.num_features) == ("duck", 3, 4, 5)
    assert g.adjacency().toarray().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert g.labels.tolist() == [0, 1, 0]
    assert g.train_mask.tolist() == [True, False, False]


def test_from_pyg_numpy_without_masks() -> None:
    data = SimpleNamespace(edge_index=np.array([[0], [1]]), x=np.ones((4, 2)),
                           y=np.array([0, 1, 0, 1]))
    g = from_pyg(data)
    assert g.name == "pyg" and g.num_nodes == 4
    assert g.adjacency().toarray()[0, 1] == 1  # row 0 (the source) holds the edge 0 -> 1
    expected = random_split(np.array([0, 1, 0, 1]))
    for got, want in zip((g.train_mask, g.val_mask, g.test_mask), expected, strict=True):
        assert np.array_equal(got, want)


def test_from_pyg_real_data(cora: Graph) -> None:
    pytest.importorskip("torch_geometric", reason="needs the pyg extra (make test installs it)")
    from torch_geometric.data import Data

    a = cora.adjacency().tocoo()
    data = Data(
        edge_index=torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64)),
        x=torch.from_numpy(cora.features),
        y=torch.from_numpy(cora.labels),
        train_mask=torch.from_numpy(cora.train_mask),
        val_mask=torch.from_numpy(cora.val_mask),
        test_mask=torch.from_numpy(cora.test_mask),
    )
    g = from_pyg(data, name="cora")
    assert _counts(g) == _counts(cora)
    assert np.array_equal(g.indptr, cora.indptr) and np.array_equal(g.indices, cora.indices)


# -- splits ------------------------------------------------------------------------------------
def test_random_split_is_seeded_and_skips_unlabelled() -> None:
    labels = np.array([0, 1, -1] * 40)
    train, val, test = random_split(labels, train=0.5, val=0.25, seed=3)
    assert (int(train.sum()), int(val.sum()), int(test.sum())) == (40, 20, 20)
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert not (train | val | test)[labels < 0].any()
    again = random_split(labels, train=0.5, val=0.25, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again, strict=True))
    other = random_split(labels, train=0.5, val=0.25, seed=4)
    assert not np.array_equal(train, other[0])


# -- named datasets ----------------------------------------------------------------------------
def test_named_datasets_and_describe(shared_datasets: Path, tmp_path: Path) -> None:
    assert [d.name for d in NAMED_DATASETS] == ["cora", "citeseer", "twitch-engb"]
    assert named_dataset("Cora") is NAMED_DATASETS[0]
    rows = describe_datasets(shared_datasets)
    assert [(r["name"], r["found"]) for r in rows] == [
        ("cora", True), ("citeseer", True), ("twitch-engb", True)
    ]
    assert rows[0]["path"] == str(shared_datasets / "planetoid" / "Cora" / "raw")
    assert not any(r["found"] for r in describe_datasets(tmp_path))


def test_data_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    shared_datasets: Path) -> None:
    monkeypatch.setenv("PARGNN_DATA", str(shared_datasets))
    assert default_data_root() == shared_datasets
    assert load_dataset("CORA").num_nodes == 2708
    monkeypatch.delenv("PARGNN_DATA")
    assert default_data_root().parts[-2:] == ("pargnn", "datasets")


def test_synthetic_specs_are_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    from pargnn.graph import synthetic

    seen: list[str] = []

    def fake_from_spec(spec: str) -> Graph:
        seen.append(spec)
        return Graph(name="fake", indptr=np.array([0, 0]), indices=np.array([], dtype=np.int64),
                     features=np.ones((1, 1)), labels=np.array([0]),
                     train_mask=np.array([True]), val_mask=np.array([False]),
                     test_mask=np.array([False]))

    monkeypatch.setattr(synthetic, "from_spec", fake_from_spec)
    assert load_dataset("rmat:nodes=64,degree=4").name == "fake"
    assert load_dataset(" SBM:nodes=10,blocks=2").name == "fake"
    assert seen == ["rmat:nodes=64,degree=4", "SBM:nodes=10,blocks=2"]


def test_relative_path_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r.el").write_text("0 1\n")
    np.save(tmp_path / "r.features.npy", np.ones((2, 1)))
    np.save(tmp_path / "r.labels.npy", np.array([0, 1]))
    monkeypatch.chdir(tmp_path)
    assert load_dataset("r.el").num_edges == 1
    with pytest.raises(DatasetError):
        load_dataset(os.path.join("nowhere", "r.el"))


def test_real_synthetic_spec() -> None:
    g = load_dataset("rmat:nodes=256,degree=4")
    assert g.num_nodes == 256
