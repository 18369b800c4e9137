"""The planner's own timing of the sparse products: it times the blocks the exact model
counts, a sample stands for its rows, and the shared cores pace uneven steps. (What the
timings say is compared with training in benchmarks/planner, not asserted here.)"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from pargnn.algorithms.grid.traffic import grid_rank
from pargnn.algorithms.one_five_d.traffic import replicated_rank
from pargnn.config import TrainConfig
from pargnn.cost.problem import Problem
from pargnn.cost.sparse_timing import sampled_rows, stride_for, time_ranks
from pargnn.graph.datasets import load_dataset
from pargnn.graph.partition import Partition, partition_graph
from pargnn.layout.offsets import balanced_offsets
from pargnn.planner.pace import calibration_pace, shared_pace
from pargnn.planner.planner import Candidate, candidates, measured_sparse, predict, rank_blocks
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import Profile, load_profile
from pargnn.training.run import prepare

GRAPH = "sbm:nodes=900,blocks=4,p_in=0.03,p_out=0.004,features=12,seed=3"


@pytest.fixture(scope="module")
def problem_and_partitions() -> tuple[Problem, object]:
    config = TrainConfig(dataset=GRAPH, hidden=16)
    graph = prepare(load_dataset(GRAPH, None), config)
    problem = problem_for(graph, config)

    @functools.cache
    def partitions(parts: int, method: str) -> Partition:
        return partition_graph(graph.adjacency, parts, method)

    return problem, partitions


def _calibrated(nprocs: int = 2, cores: int = 2) -> Profile:
    profile = load_profile("local-default")
    return dataclasses.replace(profile, origin="calibrated", device="cpu", nprocs=nprocs,
                               threads_per_process=1,
                               machine={**profile.machine, "cpu_count": cores})


@pytest.mark.parametrize("nprocs", [3, 4, 6])
def test_timed_blocks_are_the_counted_blocks(problem_and_partitions: tuple, nprocs: int
                                             ) -> None:
    """Unsampled, every rank's blocks hold exactly the non-zeros the exact model counts
    for it, for every layout of ``nprocs`` (3 and 6: uneven blocks)."""
    problem, partitions = problem_and_partitions
    for candidate in candidates(nprocs):
        blocks = rank_blocks(problem, candidate, partitions)
        assert blocks is not None and len(blocks) == nprocs, candidate.label
        spec = candidate.spec
        for rank, b in enumerate(blocks):
            assert b.scale == 1.0  # a graph this small is timed whole
            forward = [m.nnz for m in b.forward]
            backward = [m.nnz for m in b.backward]
            if candidate.partition is not None:
                c = spec.size // candidate.family.parts(spec)  # type: ignore[misc]
                halos = problem.part_halos(nprocs // c, candidate.partition, partitions)
                assert halos is not None
                i, r = divmod(rank, c)
                stage_teams = balanced_offsets(nprocs // c, c)
                lo, hi = int(stage_teams[r]), int(stage_teams[r + 1])
                assert forward == backward == [int(halos.nnz[i, lo:hi].sum())]
                assert b.forward[0].shape[1] <= b.forward[0].shape[0] + int(
                    halos.need[i, lo:hi].sum()), candidate.label
                continue
            if candidate.family.replicated:
                counts = replicated_rank(spec, problem.n, problem.at, problem.a, rank,
                                         problem.value_bytes).counts
            else:
                counts = grid_rank(spec, problem.n, problem.at, problem.a, rank,
                                   problem.value_bytes).counts
            assert forward == list(counts.forward), candidate.label
            assert backward == list(counts.backward), candidate.label


def test_a_strided_sample_stands_for_its_rows() -> None:
    indptr = np.array([0, 4, 4, 6, 16, 17])  # degrees 4, 0, 2, 10, 1
    rows = np.arange(5)
    sample, scale = sampled_rows(indptr, rows, 2)
    assert sample.tolist() == [0, 2, 4]
    assert scale == pytest.approx(17 / 7)
    assert sampled_rows(indptr, rows, 1)[1] == 1.0
    assert stride_for(1000, 1000) == 1 and stride_for(1001, 1000) == 2


def test_timings_scale_and_cover_every_rank(problem_and_partitions: tuple) -> None:
    problem, partitions = problem_and_partitions
    blocks = rank_blocks(problem, Candidate(candidates(2)[0].spec), partitions)
    assert blocks is not None
    products = [[(b.forward[0], 8)] for b in blocks]
    times = time_ranks(products, [1.0, 1.0], threads=1)
    assert len(times) == 2 and all(t > 0 for t in times)
    sparse = measured_sparse(problem, partitions, _calibrated())
    for candidate in candidates(4):
        seconds = sparse(candidate)
        assert seconds is not None and len(seconds) == 4 and min(seconds) > 0


@pytest.mark.parametrize("concurrency", [None, 1.5])
def test_timed_products_replace_the_fit(problem_and_partitions: tuple,
                                        concurrency: float | None) -> None:
    """Given each rank's timing, a rank's sparse kernels cost that timing at the pace of two
    processes on two cores (1 assumed, or as measured), whatever the fit says."""
    problem, partitions = problem_and_partitions
    profile = dataclasses.replace(_calibrated(), kernel_concurrency=concurrency)
    candidate = Candidate(candidates(2)[0].spec)
    fitted = predict(problem, candidate, profile, partitions)
    timed = predict(problem, candidate, profile, partitions,
                      sparse_seconds=[1.0, 1.0])
    slower = predict(problem, candidate, profile, partitions, sparse_seconds=[2.0, 2.0])
    assert fitted is not None and timed is not None and slower is not None
    for a, b in zip(timed.ranks, slower.ranks, strict=True):
        assert b.compute_seconds - a.compute_seconds == pytest.approx(concurrency or 1.0)
    assert timed.compute_seconds > fitted.compute_seconds


def test_uneven_steps_run_at_the_busiest_ranks_pace() -> None:
    profile = _calibrated(nprocs=2, cores=2)
    assert shared_pace(profile, 8, [1.0] * 8) == pytest.approx(4.0)  # 8 on 2 cores
    assert shared_pace(profile, 8, [1.0] + [0.0] * 7) == 1.0  # one rank works, others wait
    assert shared_pace(profile, 8, [1.0] * 4 + [0.0] * 4) == pytest.approx(2.0)
    assert shared_pace(profile, 8, None) == pytest.approx(4.0)  # ranks unknown: all busy
    assert shared_pace(profile, 2, [1.0, 0.1]) == 1.0  # a core each
    assert shared_pace(load_profile("local-default"), 8, [1.0] * 8) == 1.0  # a cluster
    # measured: two processes at once ran 1.5x slower than one alone
    measured = dataclasses.replace(profile, kernel_concurrency=1.5)
    assert shared_pace(measured, 2, [1.0, 1.0]) == pytest.approx(1.5)
    assert shared_pace(measured, 8, [1.0] * 8) == pytest.approx(6.0)  # and 4x oversubscribed
    assert shared_pace(measured, 2, [1.0, 0.0]) == 1.0
    assert calibration_pace(measured) == 1.5 and calibration_pace(profile) == 1.0
