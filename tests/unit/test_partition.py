"""Partitions: each vertex in exactly one part, METIS cuts fewer edges, halos counted right,
the cache is used, and bad requests are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from pargnn.errors import ConfigError
from pargnn.graph import partition as partition_module
from pargnn.graph.partition import (
    PARTITIONERS,
    halo_matrix,
    partition_graph,
    partition_stats,
)
from pargnn.graph.synthetic import from_spec

SBM = "sbm:nodes=2000,blocks=8,degree=10,homophily=0.9,features=4,seed=3"


def community_graph() -> sp.csr_array:
    return from_spec(SBM).adjacency()


@pytest.mark.parametrize("method", PARTITIONERS)
def test_every_vertex_lands_in_exactly_one_part(method: str) -> None:
    adjacency = community_graph()
    n = adjacency.shape[0]
    part = partition_graph(adjacency, 5, method, seed=1)
    assert sorted(part.order.tolist()) == list(range(n))
    assert part.offsets[0] == 0 and part.offsets[-1] == n and part.parts == 5
    assert np.all(np.diff(part.offsets) > 0)
    assert partition_stats(adjacency, part).balance <= 1.05


def test_metis_cuts_far_fewer_edges_than_random_on_communities() -> None:
    adjacency = community_graph()
    metis = partition_stats(adjacency, partition_graph(adjacency, 8, "metis"))
    random = partition_stats(adjacency, partition_graph(adjacency, 8, "random"))
    assert metis.edge_cut < 0.5 * random.edge_cut
    assert sum(metis.halo) < 0.5 * sum(random.halo)


def test_degree_weights_balance_degree_sums() -> None:
    adjacency = from_spec("rmat:nodes=4096,degree=8,features=4,seed=2").adjacency()
    part = partition_graph(adjacency, 4, "metis", weights="degree")
    symmetric = (adjacency + adjacency.T).astype(bool)
    degree = np.diff(sp.csr_array(symmetric).indptr) + 1
    sums = [degree[part.order[lo:hi]].sum() for lo, hi in zip(part.offsets[:-1],
                                                               part.offsets[1:], strict=True)]
    assert max(sums) / np.mean(sums) < 1.1


def test_halo_matrix_matches_a_direct_count() -> None:
    rng = np.random.default_rng(0)
    n = 37
    at = sp.random_array((n, n), density=0.1, format="csr", rng=rng)
    offsets = np.array([0, 5, 5, 20, 37])  # an empty part too
    need = halo_matrix(at, offsets)
    dense = at.toarray() != 0
    for i in range(4):
        for k in range(4):
            rows = slice(offsets[i], offsets[i + 1])
            cols = slice(offsets[k], offsets[k + 1])
            expected = 0 if i == k else int(dense[rows, cols].any(axis=0).sum())
            assert need[i, k] == expected


def test_the_cache_saves_and_reuses_a_metis_partition(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    adjacency = community_graph()
    first = partition_graph(adjacency, 4, "metis", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("partition-*.npz"))) == 1

    def no_metis(*args: object, **kwargs: object) -> None:
        raise AssertionError("METIS ran although the partition was cached")

    monkeypatch.setattr(partition_module, "metis_partition", no_metis)
    second = partition_graph(adjacency, 4, "metis", cache_dir=tmp_path)
    np.testing.assert_array_equal(first.order, second.order)
    np.testing.assert_array_equal(first.offsets, second.offsets)
    with pytest.raises(AssertionError, match="METIS ran"):
        partition_graph(adjacency, 3, "metis", cache_dir=tmp_path)  # other settings: new key


def test_bad_requests_are_refused_clearly() -> None:
    adjacency = community_graph()
    with pytest.raises(ConfigError, match="not one of: block, random, metis"):
        partition_graph(adjacency, 2, "spectral")
    with pytest.raises(ConfigError, match="cannot cut 2000 vertices into 3000 parts"):
        partition_graph(adjacency, 3000, "metis")
    with pytest.raises(ConfigError, match="weights"):
        partition_graph(adjacency, 2, "metis", weights="mass")
