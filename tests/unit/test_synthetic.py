"""The synthetic generators: reproducible, the requested size, simple graphs, learnable."""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np
import pytest
import scipy.sparse as sp

from pargnn.errors import DatasetError
from pargnn.graph import Graph
from pargnn.graph.synthetic import DEFAULT_SPEC, from_spec, parse_spec, rmat, sbm

ARRAYS = ("indptr", "indices", "features", "labels", "train_mask", "val_mask", "test_mask")


def same_graph(g: Graph, h: Graph) -> bool:
    return g.name == h.name and all(
        np.array_equal(getattr(g, a), getattr(h, a)) and getattr(g, a).dtype == getattr(h, a).dtype
        for a in ARRAYS
    )


def params(g: Graph) -> dict[str, Any]:
    return cast(dict[str, Any], g.meta["params"])


def edges(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(np.arange(g.num_nodes), g.out_degrees()), g.indices


def homophily(g: Graph) -> float:
    u, v = edges(g)
    return float(np.mean(g.labels[u] == g.labels[v]))


def chance_homophily(g: Graph) -> float:
    """Same-label fraction if edge ends were paired at random (by edge volume per class)."""
    u, _ = edges(g)
    share = np.bincount(g.labels[u], minlength=g.num_classes) / u.shape[0]
    return float(np.sum(share**2))


def centroid_accuracy(x: np.ndarray, g: Graph) -> float:
    """Test accuracy of the nearest class mean (means from the training vertices)."""
    y = g.labels
    means = np.stack([x[g.train_mask & (y == c)].mean(axis=0) for c in range(g.num_classes)])
    dist = ((x[g.test_mask][:, None, :] - means[None]) ** 2).sum(axis=2)
    return float(np.mean(dist.argmin(axis=1) == y[g.test_mask]))


def aggregated(g: Graph) -> np.ndarray:
    """``D^-1/2 (A + I) D^-1/2 X`` (one GCN propagation without weights)."""
    a = g.adjacency() + sp.eye_array(g.num_nodes, dtype=np.float32)
    d = np.asarray(a.sum(axis=1)).ravel() ** -0.5
    return d[:, None] * (a.T @ (d[:, None] * g.features))


SMALL_RMAT = "rmat:nodes=3000,degree=8,features=8,classes=4"
SMALL_SBM = "sbm:nodes=2000,blocks=5,degree=10,homophily=0.7,features=8"


# -- reproducibility ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [SMALL_RMAT, SMALL_SBM, SMALL_RMAT + ",permute=1,directed=1"])
def test_same_spec_same_graph_different_seed_different_graph(spec: str) -> None:
    g, h = from_spec(spec), from_spec(spec)
    assert same_graph(g, h)
    other = from_spec(spec + ",seed=1")
    assert not np.array_equal(g.indices, other.indices)
    assert not np.array_equal(g.features, other.features)
    assert not np.array_equal(g.train_mask, other.train_mask)


def test_features_have_their_own_stream() -> None:
    g, h = rmat(2000, 6, features=4), rmat(2000, 6, features=16, sigma=2.0)
    assert np.array_equal(g.indices, h.indices) and np.array_equal(g.indptr, h.indptr)


def test_python_api_and_spec_agree_and_name_round_trips() -> None:
    g = rmat(3000, 8, 8, 4)
    assert g.name == (
        "rmat:nodes=3000,degree=8,features=8,classes=4,a=0.57,b=0.19,c=0.19,d=0.05,noise=0.1,"
        "homophily=0.5,sigma=1,seed=0,directed=false,permute=false,train=0.6,val=0.2"
    )
    assert same_graph(g, from_spec(SMALL_RMAT))
    for h in (g, from_spec(SMALL_SBM), sbm(500, 3, 0.05, 0.002, features=4, directed=True)):
        again = from_spec(h.name)
        assert same_graph(h, again) and again.name == h.name
        assert again.meta["params"] == h.meta["params"]


def test_meta_records_the_generator_parameters() -> None:
    g = from_spec(SMALL_SBM)
    assert g.meta["generator"] == "sbm"
    assert params(g)["blocks"] == 5 and params(g)["degree"] == 10.0
    assert 0 < cast(float, g.meta["p_out"]) < cast(float, g.meta["p_in"]) < 1
    assert g.meta["edge_homophily"] == pytest.approx(homophily(g))
    assert from_spec(SMALL_RMAT).meta["scale"] == 12


# -- sizes, degree, simple graphs --------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        SMALL_RMAT,
        "rmat:nodes=4096,degree=16,classes=8,directed=true",
        "rmat:nodes=5000,degree=4,classes=3,permute=true",
        "rmat:nodes=2048,degree=12,classes=16,homophily=0",
        SMALL_SBM,
        "sbm:nodes=3001,blocks=7,degree=6,homophily=0.9,directed=1",
    ],
)
def test_size_degree_and_simple_graph(spec: str) -> None:
    g = from_spec(spec)
    p = params(g)
    assert g.num_nodes == p["nodes"] and g.num_features == p["features"]
    assert g.num_edges / g.num_nodes == pytest.approx(p["degree"], rel=0.1)
    a = g.adjacency()
    assert a.diagonal().sum() == 0  # no self-loops
    u, v = edges(g)
    same_row = u[1:] == u[:-1]
    assert np.all(np.diff(v.astype(np.int64))[same_row] > 0)  # sorted rows, no duplicates
    coo = a.tocoo()
    assert np.unique(coo.row.astype(np.int64) * g.num_nodes + coo.col).shape[0] == g.num_edges
    symmetric = (a != a.T).nnz == 0
    assert symmetric == (not p["directed"])
    assert g.indices.dtype == np.int32 and g.features.dtype == np.float32


def test_exact_degree_for_rmat() -> None:
    assert rmat(3000, 8).num_edges == 24000
    assert rmat(3000, 8, directed=True).num_edges == 24000
    assert rmat(1000, 3.5).num_edges == 3500


def test_rmat_keeps_the_hubs_at_small_ids_unless_permuted() -> None:
    g = rmat(4096, 10, homophily=0.0)
    deg = g.out_degrees()
    assert int(np.argmax(deg)) == 0
    assert deg[: 4096 // 8].sum() > deg[-4096 // 8 :].sum() * 5
    p = rmat(4096, 10, homophily=0.0, permute=True)
    assert np.array_equal(np.sort(deg), np.sort(p.out_degrees()))
    assert int(np.argmax(p.out_degrees())) != 0
    assert homophily(p) == pytest.approx(homophily(g))  # labels travel with the vertices


def test_tiny_and_degenerate_graphs() -> None:
    one = rmat(1, 0, features=2, classes=1)
    assert one.num_nodes == 1 and one.num_edges == 0
    assert rmat(5, 2, classes=5).num_edges == 10
    complete = sbm(40, 4, 1.0, 1.0, features=2)
    assert complete.num_edges == 40 * 39
    blocks_only = sbm(40, 4, 1.0, 0.0, features=2)
    assert blocks_only.num_edges == 4 * 10 * 9 and homophily(blocks_only) == 1.0
    with pytest.raises(DatasetError, match="degree=63.0 cannot be reached"):
        rmat(64, 63, a=0.97, b=0.01, c=0.01, d=0.01, noise=0.0)


# -- labels, homophily, learnability -----------------------------------------------------------
@pytest.mark.parametrize("spec", [SMALL_RMAT, SMALL_SBM, "rmat:nodes=1000,degree=5,classes=7"])
def test_labels_cover_all_classes_in_near_equal_blocks(spec: str) -> None:
    g = from_spec(spec)
    k = params(g).get("classes", params(g).get("blocks"))
    assert g.num_classes == k and g.labels.min() == 0 and g.labels.max() == k - 1
    counts = np.bincount(g.labels)
    assert counts.max() - counts.min() <= 1
    assert g.train_mask.sum() == round(0.6 * g.num_nodes)
    assert not np.any(g.train_mask & g.test_mask)


def test_rmat_homophily_is_planted_well_above_chance() -> None:
    g = rmat(8192, 10, classes=8)
    assert homophily(g) > 0.5 > chance_homophily(g) + 0.2
    assert homophily(g) > 2 / g.num_classes
    plain = rmat(8192, 10, classes=8, homophily=0.0)
    assert homophily(plain) < chance_homophily(plain) + 0.05  # R-MAT alone has no communities
    assert homophily(rmat(8192, 10, classes=8, homophily=0.9)) > 0.85


def test_sbm_homophily_matches_the_parameter() -> None:
    for h in (0.3, 0.8):
        g = sbm(4000, 4, degree=12, homophily=h, features=4)
        assert homophily(g) == pytest.approx(h, abs=0.03)


def test_sbm_probability_form() -> None:
    g = sbm(3000, 3, p_in=0.01, p_out=0.001, features=4)
    expected = 2 * (3 * 1000 * 999 / 2 * 0.01 + 3 * 1000 * 1000 * 0.001)
    assert g.num_edges == pytest.approx(expected, rel=0.05)
    assert g.meta["p_in"] == 0.01


def test_default_spec_is_fast_homophilous_and_aggregation_helps() -> None:
    t = time.perf_counter()
    g = from_spec(DEFAULT_SPEC)
    assert time.perf_counter() - t < 5.0
    assert 10_000 <= g.num_nodes <= 20_000 and 8 <= g.num_edges / g.num_nodes <= 20
    assert homophily(g) > 0.7
    raw, agg = centroid_accuracy(g.features, g), centroid_accuracy(aggregated(g), g)
    assert 2 / g.num_classes < raw < 0.7  # features alone: clearly imperfect
    assert agg > raw + 0.3 and agg > 0.8  # one propagation step already helps a lot
    assert isinstance(DEFAULT_SPEC, str) and parse_spec(DEFAULT_SPEC) == parse_spec(g.name)


# -- spec errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("gnp:nodes=10", "unknown generator 'gnp'"),
        ("rmat:nodes=100,degree=4,colour=3", "unknown key 'colour'"),
        ("rmat:degree=4", "missing required key 'nodes'"),
        ("rmat:nodes=100", "missing required key 'degree'"),
        ("rmat:nodes=ten,degree=4", "nodes='ten' is not an int"),
        ("rmat:nodes=1.5,degree=4", "nodes='1.5' is not an int"),
        ("rmat:nodes=100,degree=4,directed=maybe", "directed='maybe' is not a bool"),
        ("rmat:nodes=100,degree=x", "degree='x' is not a float"),
        ("rmat:nodes=0,degree=0", "nodes=0"),
        ("rmat:nodes=100,degree=4,a=1.5", "a=1.5"),
        ("rmat:nodes=100,degree=4,a=0.5", "a+b+c+d=0.93"),
        ("rmat:nodes=100,degree=4,classes=101", "classes=101"),
        ("rmat:nodes=100,degree=100", "degree=100.0"),
        ("rmat:nodes=100,degree=4,noise=0.5", "noise=0.5"),
        ("rmat:nodes=100,degree=4,train=0.9,val=0.2", "val=0.2"),
        ("rmat:nodes=100,degree=4,sigma=-1", "sigma=-1.0"),
        ("rmat:nodes=100,degree=4,nodes=5", "'nodes' is given twice"),
        ("rmat:nodes=100,degree", "'degree' is not key=value"),
        ("sbm:nodes=100,blocks=4,p_in=0.1,p_out=0.01,degree=5", "degree=5.0"),
        ("sbm:nodes=100,blocks=4,p_in=0.1", "p_out is missing"),
        ("sbm:nodes=100,blocks=4", "p_in is missing"),
        ("sbm:nodes=100,blocks=4,degree=5", "homophily is missing"),
        ("sbm:nodes=100,blocks=4,p_in=1.2,p_out=0", "p_in=1.2"),
        ("sbm:nodes=100,blocks=101,p_in=0.1,p_out=0", "blocks=101"),
        ("sbm:nodes=100,blocks=50,degree=50,homophily=0.9", "degree=50.0"),
        ("sbm:nodes=100,blocks=1,degree=5,homophily=0.5", "homophily=0.5"),
    ],
)
def test_spec_errors_name_the_problem_and_list_the_keys(spec: str, named: str) -> None:
    with pytest.raises(DatasetError) as err:
        from_spec(spec)
    message = str(err.value)
    assert named in message
    assert spec in message
    if not spec.startswith("gnp"):
        generator = spec.split(":")[0]
        assert f"valid keys for {generator}: nodes (int, required)" in message
        assert "seed=0" in message and "directed=false" in message
    else:
        assert "rmat, sbm" in message


def test_spec_syntax_is_forgiving_where_it_is_unambiguous() -> None:
    a = parse_spec(" RMAT: nodes=1e3 , degree=4, directed=TRUE, permute=0,")
    b = parse_spec("rmat:nodes=1_000,degree=4.0,directed=1")
    assert a == b and a.nodes == 1000 and a.directed is True and a.permute is False


def test_direct_calls_validate_too() -> None:
    with pytest.raises(DatasetError, match="nodes=2.5 is invalid: must be an integer"):
        rmat(2.5, 1)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="not both"):
        sbm(100, 2, 0.1, 0.01, degree=3, homophily=0.5)
