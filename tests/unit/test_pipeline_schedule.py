"""The pipeline schedule generator, without devices: every task once, dependencies kept,
GPipe's bubble, 1F1B's bound on chunks in flight, and what exact mode costs."""

from __future__ import annotations

import itertools

import pytest

from pargnn.pipeline.schedule import (
    PipelineSchedule,
    Task,
    gpipe_bubble,
    pipeline_schedule,
)

ALONE = [[] for _ in range(16)]


def when(schedule: PipelineSchedule) -> dict[Task, int]:
    return {task: clock for clock, row in enumerate(schedule.clocks)
            for task in row if task is not None}


def ring(chunks: int) -> list[list[int]]:
    """Chunk c has edges from c - 1 and c + 1."""
    return [[(c - 1) % chunks, (c + 1) % chunks] for c in range(chunks)]


def check_dependencies(schedule: PipelineSchedule, into: list[list[int]]) -> None:
    """Every task runs once, on its stage, after everything it needs (by mode)."""
    at = when(schedule)
    layers = sum(schedule.stage_layers)
    assert len(at) == 2 * layers * schedule.chunks
    exact = schedule.mode == "exact"
    out = {c: {d for d in range(schedule.chunks) if c in into[d] or d == c}
           for c in range(schedule.chunks)}
    by_layer = {(t.chunk, t.layer, t.backward): clock for t, clock in at.items()}
    for task, clock in at.items():
        sources = ({task.chunk, *into[task.chunk]} if exact else {task.chunk})
        if not task.backward and task.layer > 0:
            assert all(by_layer[(c, task.layer - 1, False)] < clock for c in sources)
        if task.backward:
            assert by_layer[(task.chunk, task.layer, False)] < clock
            targets = out[task.chunk] if exact else {task.chunk}
            if task.layer < layers - 1:
                assert all(by_layer[(c, task.layer + 1, True)] < clock for c in targets)


@pytest.mark.parametrize("stages,chunks", [(2, 1), (2, 4), (3, 4), (4, 7), (4, 1)])
@pytest.mark.parametrize("kind", ["gpipe", "1f1b"])
def test_independent_chunks_have_gpipes_bubble(stages: int, chunks: int, kind: str) -> None:
    schedule = pipeline_schedule([1] * stages, chunks, ALONE[:chunks], "naive", kind)
    check_dependencies(schedule, ALONE[:chunks])
    assert schedule.bubble_fraction == pytest.approx(gpipe_bubble(stages, chunks))
    assert len(schedule.clocks) == 2 * (chunks + stages - 1)


@pytest.mark.parametrize("stages,chunks", [(2, 4), (3, 5), (4, 8)])
def test_1f1b_bounds_the_chunks_a_stage_holds(stages: int, chunks: int) -> None:
    schedule = pipeline_schedule([1] * stages, chunks, ALONE[:chunks], "naive", "1f1b")
    for stage in range(stages):
        held, most = set(), 0
        for row in schedule.clocks:
            task = row[stage]
            if task is not None:
                (held.discard if task.backward else held.add)(task.chunk)
            most = max(most, len(held))
        assert most <= stages - stage
    gpipe = pipeline_schedule([1] * stages, chunks, ALONE[:chunks], "naive", "gpipe")
    first_stage = [t.chunk for t in (r[0] for r in gpipe.clocks) if t and not t.backward]
    assert len(first_stage) == chunks  # GPipe holds every chunk before its first backward


@pytest.mark.parametrize("mode", ["exact", "historical", "naive"])
@pytest.mark.parametrize("kind", ["gpipe", "1f1b"])
@pytest.mark.parametrize("stage_layers,chunks", [([2, 1], 3), ([1, 1, 1], 4), ([3, 2, 2, 1], 7),
                                                 ([1, 1], 2)])
def test_dependencies_hold_in_every_mode(mode: str, kind: str, stage_layers: list[int],
                                         chunks: int) -> None:
    into = ring(chunks)
    schedule = pipeline_schedule(stage_layers, chunks, into, mode, kind)  # type: ignore[arg-type]
    check_dependencies(schedule, into)
    for row in schedule.clocks:
        for stage, task in enumerate(row):
            if task is not None:
                assert task.stage == stage
                assert sum(stage_layers[:stage]) <= task.layer < sum(stage_layers[:stage + 1])


def test_exact_mode_waits_for_the_neighbours_chunks() -> None:
    """With every chunk feeding every other, no two stages can work at once: a stage needs
    all chunks of the layer below."""
    chunks, stages = 4, 3
    complete = [[d for d in range(chunks) if d != c] for c in range(chunks)]
    schedule = pipeline_schedule([1] * stages, chunks, complete, "exact", "gpipe")
    check_dependencies(schedule, complete)
    assert all(sum(t is not None for t in row) == 1 for row in schedule.clocks)
    assert schedule.bubble_fraction == pytest.approx(1 - 1 / stages)
    historical = pipeline_schedule([1] * stages, chunks, complete, "historical", "gpipe")
    assert historical.bubble_fraction == pytest.approx(gpipe_bubble(stages, chunks))


def test_exact_without_cross_chunk_edges_is_the_plain_pipeline() -> None:
    for kind in ("gpipe", "1f1b"):
        exact = pipeline_schedule([2, 1, 1], 5, ALONE[:5], "exact", kind)  # type: ignore[arg-type]
        naive = pipeline_schedule([2, 1, 1], 5, ALONE[:5], "naive", kind)  # type: ignore[arg-type]
        assert exact.clocks == naive.clocks


def test_render_draws_one_line_per_stage() -> None:
    picture = pipeline_schedule([1, 1], 2, ALONE[:2], "naive").render()
    lines = picture.splitlines()
    assert len(lines) == 2 and lines[0].startswith("stage 0: F0.0 F1.0")
    assert "B1.1" in lines[1] and "." in lines[1]


@pytest.mark.parametrize("args,message", [
    (([], 2, ALONE[:2]), "at least one layer"),
    (([2, 0], 2, ALONE[:2]), "at least one layer"),
    (([1, 1], 0, []), "chunks must be >= 1"),
    (([1, 1], 3, ALONE[:2]), "into has 2 entries for 3 chunks"),
    (([1, 1], 2, [[5], []]), "outside 0..1"),
])
def test_bad_arguments_are_refused(args: tuple[list[int], int, list[list[int]]],
                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pipeline_schedule(*args)
    with pytest.raises(ValueError, match="mode 'lazy'"):
        pipeline_schedule([1], 1, [[]], "lazy")  # type: ignore[arg-type]


def test_tasks_are_ordered_by_stage_then_chunk() -> None:
    tasks = [Task(1, 0, 2), Task(0, 3, 0), Task(0, 1, 1, True)]
    assert sorted(tasks)[0] == Task(0, 1, 1, True)
    assert list(itertools.chain.from_iterable(
        pipeline_schedule([1], 1, [[]]).clocks)) == [Task(0, 0, 0), Task(0, 0, 0, True)]
