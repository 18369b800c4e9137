"""The single-process path on CUDA trains what it trains on the CPU (needs a GPU; skipped,
saying so, where there is none)."""

from __future__ import annotations

import pytest
import torch

from pargnn import TrainConfig, train

SBM = "sbm:nodes=500,blocks=4,p_in=0.05,p_out=0.005,features=12,seed=3"

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("model", ["gcn", "gat", "sage", "gin", "labelprop"])
def test_cuda_follows_the_cpu(model: str) -> None:
    config = TrainConfig(dataset=SBM, model=model, epochs=4, hidden=8, heads=2,
                         dtype="float64", quiet=True, dropout=0.5)
    cpu = train(config.replace(device="cpu"))
    cuda = train(config.replace(device="cuda"))
    assert cuda.device.startswith("cuda")
    for a, b in zip(cpu.epochs, cuda.epochs, strict=True):
        assert (a.loss is None) == (b.loss is None)
        if a.loss is not None:
            assert b.loss == pytest.approx(a.loss, rel=1e-9)
        assert (a.train_acc, a.val_acc, a.test_acc) == (b.train_acc, b.val_acc, b.test_acc)


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
def test_cuda_minibatches_follow_the_cpu(model: str) -> None:
    """Sampled blocks, pinned-memory rows and the look-ahead of the next batch train on CUDA
    what they train on the CPU."""
    config = TrainConfig(dataset=SBM, model=model, epochs=3, hidden=8, heads=2,
                         dtype="float64", quiet=True, dropout=0.5, mode="minibatch",
                         batch_size=64, fanout="5,3")
    cpu = train(config.replace(device="cpu"))
    cuda = train(config.replace(device="cuda"))
    assert cuda.minibatch is not None and cuda.minibatch["steps_per_epoch"] > 1
    for a, b in zip(cpu.epochs, cuda.epochs, strict=True):
        assert b.loss == pytest.approx(a.loss, rel=1e-9)
        assert (a.train_acc, a.val_acc, a.test_acc) == (b.train_acc, b.val_acc, b.test_acc)


def test_pinned_rows_arrive_whole() -> None:
    import numpy as np

    from pargnn.sampling.features import FeatureRows

    features = np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float32)
    rows = FeatureRows(features, torch.float32, torch.device("cuda"))
    for ids in (torch.tensor([5, 999, 0, 5]), torch.arange(1000), torch.tensor([3])):
        got = rows.gather(ids)
        assert got.device.type == "cuda"
        assert torch.equal(got.cpu(), torch.from_numpy(features[ids.numpy()]))


@pytest.mark.parametrize("kind", ["gcn", "mean", "loops"])
def test_the_gpu_sampler_draws_what_the_host_draws(kind: str) -> None:
    import numpy as np
    import scipy.sparse as sp

    from pargnn.graph.normalize import normalize_adjacency
    from pargnn.sampling import NeighborSampler
    from pargnn.sampling.neighbors import sampling_key

    rng = np.random.default_rng(2)
    n = 3000
    adj = sp.csr_array((np.ones(30000), (rng.integers(0, n, 30000), rng.integers(0, n, 30000))),
                       shape=(n, n))
    adj.sum_duplicates()
    adj.data[:] = 1.0
    at = sp.csr_array(normalize_adjacency(adj, kind).T)
    seeds = torch.from_numpy(rng.choice(n, 200, replace=False))
    keys = [sampling_key(1, 2, 3, hop) for hop in range(3)]
    host = NeighborSampler(at).sample(seeds, (6, -1, 3), keys)
    gpu = NeighborSampler(at, torch.device("cuda")).sample(seeds, (6, -1, 3), keys)
    for a, b in zip(host.blocks, gpu.blocks, strict=True):
        assert b.col.device.type == "cuda"
        assert torch.equal(a.source_ids, b.source_ids.cpu())
        for mine, theirs in ((a.crow, b.crow), (a.col, b.col), (a.values, b.values)):
            assert torch.equal(mine, theirs.cpu())
        for left, right in zip(a.operator(torch.float64, torch.device("cpu")).a.to_dense(),
                               b.operator(torch.float64, torch.device("cuda")).a.to_dense().cpu(),
                               strict=True):
            assert torch.equal(left, right)
