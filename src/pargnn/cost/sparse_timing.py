"""Each rank's sparse products, timed here on the blocks training will multiply.

Why: calibration prices SpMM per unit (a non-zero times a dense column) from random square
matrices of degree 10, and on a CPU no per-unit rate carries from those matrices to a
graph's blocks. What a unit costs depends on the block: how many columns the dense operand
has (whether it stays in cache), how many non-zeros a row has, how close together a row's
columns lie, how wide the operand is. On the 2-core machine pargnn was built on, the SpMMs
of one training step on the part that METIS gives the hubs of an R-MAT graph (4,097 rows,
570k non-zeros over 12.5k columns) take 3 ms on one process; the calibrated fit, at the
same units, says 27 ms. An earlier version scaled the calibrated rate by the graph's
"locality" (its rows against the same rows at random columns); it saw 0.73 where the
truth was 0.1-0.2.

So for a calibrated CPU profile the planner times the products themselves: for every rank
of a candidate, the blocks of ``A^T`` (forward) and ``A`` (backward) that the rank will
multiply, built as training builds them (stage blocks of its row range for 1D-3D; its
part's rows over compact columns for the sparsity-aware algorithms), each by a dense
operand as wide as training's, with training's index type (32-bit where it fits, which
``torch.sparse.mm`` widens on every call), one process, the profile's threads. A large
graph is timed on a strided sample of each rank's rows (:data:`SAMPLE_NNZ` non-zeros per
candidate), and the time scaled by the rank's non-zeros over the sample's. The planner
then slows the time by the pace of ``P`` processes sharing the machine's cores, as it
does every calibrated kernel (:func:`pargnn.planner.planner.shared_pace`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from pargnn.ops.sparse import csr_tensor

SAMPLE_NNZ = 400_000  # non-zeros of the rows timed per candidate, all ranks together
MIN_PASSES, MAX_PASSES = 2, 25
TARGET_S = 0.04  # per candidate: every rank's products, all passes


@dataclass(frozen=True)
class RankBlocks:
    """One rank's sparse blocks as training multiplies them, on a sample of its rows.

    ``forward``: the blocks of ``A^T`` of the forward product, one call each; ``backward``:
    those of the backward product; ``columns``: the rank's share of a dense matrix
    ``width`` wide; ``scale``: the non-zeros of the rank's rows over those of the sample.
    """

    forward: list[sp.csr_array]
    backward: list[sp.csr_array]
    columns: Callable[[int], int]
    scale: float


def sampled_rows(indptr: np.ndarray, rows: np.ndarray, stride: int) -> tuple[np.ndarray, float]:
    """Every ``stride``-th of ``rows`` and the non-zeros of all of them over the sample's."""
    sample = rows[::stride]
    total = int((indptr[rows + 1] - indptr[rows]).sum())
    kept = int((indptr[sample + 1] - indptr[sample]).sum())
    return sample, (total / kept if kept else 1.0)


def stride_for(nnz: int, budget: int = SAMPLE_NNZ) -> int:
    """The row stride that brings ``nnz`` non-zeros within ``budget``."""
    return max(1, -(-nnz // max(budget, 1)))


def grid_blocks(at: sp.csr_array, a: sp.csr_array, rows: tuple[int, int],
                column_ranges: Sequence[tuple[int, int]], stride: int,
                columns: Callable[[int], int]) -> RankBlocks:
    """1D, 1.5D, 2D and 3D: the rank's rows of ``A^T`` and ``A`` over each stage's column
    range (one call per stage and direction)."""
    if stride == 1:  # a slice, not a gather
        at_rows, a_rows, scale = at[rows[0]: rows[1]], a[rows[0]: rows[1]], 1.0
    else:
        sample, scale = sampled_rows(at.indptr, np.arange(*rows), stride)
        at_rows, a_rows = at[sample], a[sample]
    return RankBlocks([sp.csr_array(at_rows[:, lo:hi]) for lo, hi in column_ranges],
                      [sp.csr_array(a_rows[:, lo:hi]) for lo, hi in column_ranges],
                      columns, scale)


def compact_blocks(at: sp.csr_array, order: np.ndarray, position: np.ndarray,
                   rows: tuple[int, int], column_range: tuple[int, int], stride: int,
                   columns: Callable[[int], int]) -> RankBlocks:
    """The sparsity-aware algorithms: the rank's part's rows of ``A^T`` (positions ``rows``
    of the partition ``order``; ``position`` its inverse) over the columns of
    ``column_range`` it uses, compacted; backward, the transpose."""
    sample, scale = sampled_rows(at.indptr, order[rows[0]: rows[1]], stride)
    block = at[sample]
    cols = position[block.indices]
    keep = (cols >= column_range[0]) & (cols < column_range[1])
    indptr = np.concatenate([[0], np.cumsum(keep)])[block.indptr]  # kept per row, summed
    used, compact = np.unique(cols[keep], return_inverse=True)
    forward = sp.csr_array((block.data[keep], compact, indptr),
                           shape=(len(sample), max(len(used), 1)))
    forward.sort_indices()
    backward = sp.csr_array(forward.T)
    backward.sort_indices()
    return RankBlocks([forward], [backward], columns, scale)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the number before."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(count, 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


Product = tuple[sp.csr_array, int]  # a block and the width of the dense operand


def time_ranks(products: Sequence[Sequence[Product]], scales: Sequence[float],
               threads: int) -> list[float]:
    """Seconds of each rank's products (the sum of each product's median time), times the
    rank's ``scale``.

    Every rank's products run once per pass, :data:`MIN_PASSES` passes at least (on a
    graph of a million vertices a pass takes a tenth of a second) and more until all of
    them have taken :data:`TARGET_S`, so that on a small graph a spell of load elsewhere
    falls on one pass of several, which the median drops.
    """
    operands: dict[tuple[int, int], torch.Tensor] = {}
    prepared: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    for products_of_rank in products:
        calls = []
        for block, width in products_of_rank:
            key = (block.shape[1], width)
            if key not in operands:
                operands[key] = torch.ones(*key)
            calls.append((csr_tensor(block), operands[key]))  # int32 indices, as training
        prepared.append(calls)
    times: list[list[list[float]]] = [[[] for _ in rank] for rank in prepared]
    spent, passes = 0.0, 0
    with torch_threads(threads):
        for rank in prepared:  # warm up: first calls allocate
            for matrix, x in rank:
                torch.sparse.mm(matrix, x)
        while passes < MIN_PASSES or (spent < TARGET_S and passes < MAX_PASSES):
            for rank, out in zip(prepared, times, strict=True):
                for (matrix, x), samples in zip(rank, out, strict=True):
                    start = time.perf_counter()
                    torch.sparse.mm(matrix, x)
                    samples.append(time.perf_counter() - start)
                    spent += samples[-1]
            passes += 1
    return [scale * sum(statistics.median(s) for s in rank)
            for rank, scale in zip(times, scales, strict=True)]
