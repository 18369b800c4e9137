"""The neighbour sampler and the seed batches: fanouts, no duplicates, exact at -1, and the
same subgraph for the same key however a batch is split between ranks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pargnn.graph.normalize import normalize_adjacency
from pargnn.sampling import NeighborSampler, SeedBatches, rank_share
from pargnn.sampling.block import SampledBlock
from pargnn.sampling.floyd import floyd_positions
from pargnn.sampling.neighbors import sampling_key


def power_law_graph(n: int = 300, seed: int = 3) -> sp.csr_array:
    """A directed graph with hubs (in-degrees up to ~n/3), isolated and self-looped vertices."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n + 1) ** 1.2
    dst = rng.choice(n, size=6 * n, p=weights / weights.sum())
    src = rng.integers(0, n, size=6 * n)
    keep = (src < n - 5) & (dst < n - 5)  # the last five vertices are isolated
    a = sp.csr_array((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


def operator(kind: str = "gcn") -> sp.csr_array:
    at = sp.csr_array(normalize_adjacency(power_law_graph(), kind).T)
    at.sort_indices()
    return at


def in_neighbours(at: sp.csr_array, j: int) -> set[int]:
    row = at.indices[at.indptr[j]:at.indptr[j + 1]]
    return {int(i) for i in row if i != j}


def drawn(block: SampledBlock) -> dict[int, list[int]]:
    """Each destination's drawn sources (global ids), self-loop excluded."""
    ids = block.source_ids.numpy()
    out = {}
    for row in range(block.destinations):
        cols = block.at.indices[block.at.indptr[row]:block.at.indptr[row + 1]]
        out[int(ids[row])] = sorted(int(ids[c]) for c in cols if c != row)
    return out


@pytest.mark.parametrize("fanout", [1, 3, 7])
def test_fanout_respected_without_duplicates(fanout: int) -> None:
    at = operator()
    block = NeighborSampler(at).sample_hop(torch.arange(at.shape[0]), fanout, key=11)
    for j, sources in drawn(block).items():
        neighbours = in_neighbours(at, j)
        assert len(sources) == min(fanout, len(neighbours))
        assert len(set(sources)) == len(sources)
        assert set(sources) <= neighbours


def test_destinations_first_and_sources_unique() -> None:
    at = operator()
    seeds = torch.tensor([17, 3, 250, 4, 99])
    block = NeighborSampler(at).sample_hop(seeds, 4, key=5)
    assert torch.equal(block.source_ids[:5], seeds)
    assert len(set(block.source_ids.tolist())) == block.source_ids.shape[0]
    assert block.at.shape == (5, block.source_ids.shape[0])


@pytest.mark.parametrize("kind", ["gcn", "mean", "sum", "loops"])
def test_all_neighbours_is_the_full_operator(kind: str) -> None:
    at = operator(kind)
    n = at.shape[0]
    block = NeighborSampler(at).sample_hop(torch.arange(n), -1)
    coo = block.at.tocoo()
    ids = block.source_ids.numpy()
    rebuilt = sp.csr_array((coo.data, (coo.row, ids[coo.col])), shape=(n, n))
    assert abs(rebuilt - at).max() < 1e-15
    assert rebuilt.nnz == at.nnz


def test_sampled_weights_scale_to_an_unbiased_aggregate() -> None:
    """Mean aggregation: each sampled neighbour weighs 1/s; GCN: the full weight x d/s."""
    for kind in ("mean", "gcn"):
        at = operator(kind)
        block = NeighborSampler(at).sample_hop(torch.arange(at.shape[0]), 2, key=1)
        ids = block.source_ids.numpy()
        for row in range(block.destinations):
            lo, hi = block.at.indptr[row], block.at.indptr[row + 1]
            d = len(in_neighbours(at, row))
            for c, w in zip(block.at.indices[lo:hi], block.at.data[lo:hi], strict=True):
                full = at[row, ids[c]]
                expected = full if c == row else full * d / min(d, 2)
                assert w == pytest.approx(expected, rel=1e-12)
                if kind == "mean" and c != row and at[row, row] == 0:  # no input self-loop
                    assert w == pytest.approx(1 / min(d, 2))


def test_same_key_same_subgraph_however_the_batch_is_split() -> None:
    at = operator()
    sampler = NeighborSampler(at)
    seeds = torch.tensor([5, 80, 1, 42, 230, 7, 150, 33, 299, 64])
    keys = [sampling_key(0, 2, 3, hop) for hop in range(3)]
    whole = sampler.sample(seeds, (4, 3, 2), keys)
    for world in (2, 3, 4):
        for rank in range(world):
            lo, hi = rank_share(len(seeds), rank, world)
            part = sampler.sample(seeds[lo:hi], (4, 3, 2), keys)
            for mine, reference in zip(part.blocks, whole.blocks, strict=True):
                expected = drawn(reference)
                for j, sources in drawn(mine).items():
                    assert sources == expected[j]


def test_other_keys_draw_other_neighbours() -> None:
    at = operator()
    sampler = NeighborSampler(at)
    hubs = torch.tensor(np.argsort(-np.diff(at.indptr))[:20].copy())
    first = drawn(sampler.sample_hop(hubs, 3, key=sampling_key(0, 0, 0, 0)))
    second = drawn(sampler.sample_hop(hubs, 3, key=sampling_key(0, 1, 0, 0)))
    assert first != second
    assert first == drawn(sampler.sample_hop(hubs, 3, key=sampling_key(0, 0, 0, 0)))


def test_floyd_draws_every_subset_uniformly() -> None:
    """k = 2 of d = 5: each of the 10 subsets about 1/10 of 20,000 rows (6 sigma)."""
    rows = 20_000
    words = torch.arange(rows, dtype=torch.int64) * 7919 + 13
    from pargnn.ops.dropout import mix64

    picks = floyd_positions(mix64(words), torch.full((rows,), 5), 2)
    assert bool(((picks >= 0) & (picks < 5)).all())
    assert bool((picks[:, 0] != picks[:, 1]).all())
    subsets = Counter(tuple(sorted(p)) for p in picks.tolist())
    assert len(subsets) == 10
    expected, sigma = rows / 10, (rows * 0.1 * 0.9) ** 0.5
    assert all(abs(count - expected) < 6 * sigma for count in subsets.values())


def test_seed_batches_partition_the_training_set() -> None:
    train = torch.arange(0, 200, 3)  # 67 training vertices
    batches = SeedBatches(train, batch_size=20, seed=4)
    assert batches.steps_per_epoch == 4
    sizes = [size for _, size, _ in batches.batches(0)]
    assert sizes == [20, 20, 20, 7]  # the last partial batch is kept
    epoch0 = torch.cat([s for _, _, s in batches.batches(0)])
    assert sorted(epoch0.tolist()) == train.tolist()
    assert not torch.equal(epoch0, torch.cat([s for _, _, s in batches.batches(1)]))


@pytest.mark.parametrize("world", [2, 3, 8])
def test_rank_shares_make_up_each_global_batch(world: int) -> None:
    train = torch.arange(50)
    whole = list(SeedBatches(train, 16, seed=1).batches(5))
    shares = [list(SeedBatches(train, 16, seed=1, rank=r, world=world).batches(5))
              for r in range(world)]
    for index, (_, size, seeds) in enumerate(whole):
        parts = [shares[r][index] for r in range(world)]
        assert all(p[1] == size for p in parts)
        assert torch.equal(torch.cat([p[2] for p in parts]), seeds)
