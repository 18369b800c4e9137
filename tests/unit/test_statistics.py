"""Statistics-only planning: uniform block counts, random-partition halos, representative
ranks, and agreement with the exact model on a graph that really is uniform."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pargnn.algorithms.grid.traffic import grid_rank
from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.cost.blocks import count_blocks
from pargnn.graph.graph import Graph
from pargnn.graph.partition import partition_graph
from pargnn.planner.planner import Candidate, Plan, Prediction, make_plan, predict
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import load_profile
from pargnn.planner.statistics import (
    GraphStatistics,
    UniformBlocks,
    plan_from_statistics,
    random_halos,
    representative_ranks,
    uniform_problem,
)
from pargnn.training.run import prepare

CONFIG = TrainConfig(model="gcn", layers=2, hidden=16, dropout=0.5)


def erdos_renyi(n: int, degree: int, features: int = 16, classes: int = 4,
                seed: int = 0) -> Graph:
    """A symmetric Erdős–Rényi graph without self-loops, about ``degree`` edges per vertex."""
    rng = np.random.default_rng(seed)
    pairs = n * degree // 2
    src, dst = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = src != dst
    half = sp.csr_array((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    adjacency = sp.csr_array(half + half.T)
    adjacency.data[:] = 1.0
    train = np.zeros(n, dtype=bool)
    train[: n // 2] = True
    none = np.zeros(n, dtype=bool)
    return Graph.from_scipy("erdos-renyi", adjacency,
                            features=rng.standard_normal((n, features)).astype(np.float32),
                            labels=rng.integers(0, classes, n), train_mask=train,
                            val_mask=none, test_mask=none.copy(), num_classes=classes)


def statistics_of(graph: Graph) -> GraphStatistics:
    return GraphStatistics(graph.name, graph.num_nodes, graph.adjacency().nnz,
                           graph.num_features, graph.num_classes)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return erdos_renyi(3001, 20)


@pytest.mark.parametrize("diagonal", [False, True])
def test_uniform_blocks_are_non_negative_and_sum_to_nnz(diagonal: bool) -> None:
    """Every block of every rank of a 3D grid, on a matrix too large to allocate."""
    blocks = UniformBlocks(n=100_000_007, spread=3_231_371_745, diagonal=diagonal)
    spec = plan_grid("3d", 60, "5x3x4")
    rows, cols, layers = spec.shape
    total = 0
    for rank in range(spec.size):
        r = grid_rank(spec, blocks.n, blocks, blocks, rank, 4)
        assert min(r.counts.forward) >= 0 and r.counts.forward == r.counts.backward
        if r.j == 0:  # the grid's columns hold the same blocks
            total += sum(r.counts.forward)
    assert total == blocks.nnz
    assert r.index_bytes == 8  # 3.2e9 non-zeros need int64 indices


def test_uniform_blocks_are_proportional_to_area() -> None:
    n, spread = 1_000_003, 20_000_000
    blocks = UniformBlocks(n, spread)
    (count,) = count_blocks(blocks, blocks, (1000, 251_000), [(500_000, 600_000)]).forward
    assert count == pytest.approx(spread * 250_000 / n * 100_000 / n, abs=1)
    with_loops = UniformBlocks(n, spread, diagonal=True)
    (diagonal_block,) = count_blocks(with_loops, with_loops, (10, 20), [(0, 15)]).forward
    (plain,) = count_blocks(blocks, blocks, (10, 20), [(0, 15)]).forward
    assert diagonal_block == plain + 5  # (10, 10) .. (14, 14)


@pytest.mark.parametrize("parts", [16, 64])
def test_random_halos_match_a_random_partition(graph: Graph, parts: int) -> None:
    problem = problem_for(prepare(graph, CONFIG), CONFIG)
    partition = partition_graph(graph.adjacency(), parts, "random")
    need, nnz = problem.part_matrices(partition)
    expected = random_halos(graph.num_nodes, graph.adjacency().nnz, partition.offsets,
                            self_loops=True)
    assert need.sum() == pytest.approx(expected.need.sum(), rel=0.03)
    np.testing.assert_allclose(need.sum(axis=1), expected.need.sum(axis=1), rtol=0.10)
    np.testing.assert_allclose(need.sum(axis=0), expected.need.sum(axis=0), rtol=0.10)
    assert nnz.sum() == pytest.approx(expected.nnz.sum())
    np.testing.assert_allclose(np.diag(nnz), np.diag(expected.nnz), rtol=0.25)
    assert np.all(np.diag(expected.need) == 0)


def _by_label(plan: Plan) -> dict[str, Prediction]:
    return {p.candidate.label: p for p in plan.predictions}


def test_statistics_agree_with_the_exact_model_on_a_uniform_graph(graph: Graph) -> None:
    """Bytes, memory and epoch of 1d, 1.5d, 2d, 3d and sa1d random within a few percent."""
    profile = load_profile("gpu-cluster-infiniband")
    adjacency = graph.adjacency()
    exact = _by_label(make_plan(problem_for(prepare(graph, CONFIG), CONFIG), 8, profile,
                                lambda parts, method: partition_graph(adjacency, parts, method),
                                lambda c: c.partition in (None, "random")))
    estimated = _by_label(plan_from_statistics(statistics_of(graph), CONFIG, 8, profile))
    assert set(estimated) == set(exact)
    for label in ("1d", "1.5d c=2", "2d 2x4", "2d 4x2", "3d 2x2x2", "sa1d random",
                  "sa1.5d c=2 random"):
        e, s = exact[label], estimated[label]
        assert s.bytes == pytest.approx(e.bytes, rel=0.02), label
        assert s.memory_bytes == pytest.approx(e.memory_bytes, rel=0.02), label
        assert s.compute_seconds == pytest.approx(e.compute_seconds, rel=0.02), label
        assert s.epoch_seconds == pytest.approx(e.epoch_seconds, rel=0.02), label


@pytest.mark.parametrize("nprocs", [6, 12])
def test_representative_ranks_are_the_busiest(graph: Graph, nprocs: int) -> None:
    stats = GraphStatistics("odd", 1_000_003, 9_999_991, 100, 7)
    profile = load_profile("cpu-cluster-ethernet")
    some = _by_label(plan_from_statistics(stats, CONFIG, nprocs, profile))
    every = _by_label(plan_from_statistics(stats, CONFIG, nprocs, profile, every_rank=True))
    for label, p in every.items():
        q = some[label]
        assert len(q.ranks) == len(representative_ranks(p.candidate.spec)) < len(p.ranks)
        assert q.epoch_seconds == pytest.approx(p.epoch_seconds, rel=1e-6), label
        assert q.bytes == pytest.approx(p.bytes, rel=1e-6), label
        assert q.memory_bytes == pytest.approx(p.memory_bytes, rel=1e-6), label


def test_statistics_leave_out_partitions_they_cannot_know() -> None:
    stats = GraphStatistics("g", 10_000, 100_000, 8, 3)
    labels = [p.candidate.label for p in
              plan_from_statistics(stats, CONFIG, 4, load_profile(None)).predictions]
    assert "sa1d random" in labels and "1d" in labels
    assert not any("metis" in label or "block" in label for label in labels)


def test_a_billion_edge_graph_on_4096_processes_is_quick() -> None:
    """Three layouts of an ogbn-papers100M-sized graph at P = 4096 (one rank each)."""
    stats = GraphStatistics("papers", 111_059_956, 3_231_371_744, 128, 172)
    problem = uniform_problem(stats, TrainConfig(hidden=128))
    profile = load_profile("gpu-cluster-infiniband")
    single = predict(problem, Candidate(plan_grid("1d", 1)), profile, lambda *_: None)
    assert single is not None and not single.fits  # 3.2e9 non-zeros exceed 80 GB
    for candidate in (Candidate(plan_grid("1d", 4096)), Candidate(plan_grid("3d", 4096)),
                      Candidate(plan_grid("sa1d", 4096), "random")):
        p = predict(problem, candidate, profile, lambda *_: None, ranks=(0,))
        assert p is not None and len(p.ranks) == 1
        assert p.fits and 0 < p.epoch_seconds < single.epoch_seconds
        assert p.memory_bytes < single.memory_bytes / 100
