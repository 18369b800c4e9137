"""The pipeline schedule as a pure function: which task every stage runs at every clock.

A pipelined step pushes ``M`` chunks (vertex parts) through ``S`` stages of consecutive
layers, forward then backward, and ends with one optimiser update (a flush, as in GPipe), so
that every backward uses the weights its forward used. Unlike the layers of a CNN, a graph
layer mixes chunks: layer ``l`` of chunk ``c`` aggregates layer ``l - 1`` of every chunk with
an edge into ``c``. What a task waits for therefore depends on the mode:

* ``exact``: forward ``(l, c)`` waits for forward ``(l - 1, c')`` of ``c`` and of every chunk
  ``c'`` with an edge into ``c``; backward ``(l, c)`` waits for backward ``(l + 1, c')`` of
  ``c`` and of every chunk ``c`` has an edge into (the gradient flows back along the edges).
  The result is the model one process trains.
* ``historical``: cross-chunk neighbours use their values from the previous step (PipeGCN,
  GNNPipe), so a chunk waits only for itself, as in a CNN pipeline.
* ``naive``: cross-chunk edges are dropped (the poster's GPipe run); the same waits as
  ``historical``.

A task is one layer of one chunk in one direction and takes one clock on its stage. The order
among ready tasks is the schedule's: ``gpipe`` runs every forward, then every backward (each
in chunk order); ``1f1b`` runs a stage's backward as soon as one is ready and lets stage ``s``
hold at most ``S - s`` chunks between their first forward and their last backward there
(PipeDream's one-forward-one-backward, which bounds the activations a stage keeps). Where
that limit would stall a pipeline whose backwards wait on other chunks' forwards (``exact``
with cross-chunk edges), the limit yields. No torch in here: the generator is tested on its
own, and ``pargnn plan`` can print what it will run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["exact", "historical", "naive"]
Kind = Literal["gpipe", "1f1b"]
MODES: tuple[Mode, ...] = ("exact", "historical", "naive")
KINDS: tuple[Kind, ...] = ("gpipe", "1f1b")


@dataclass(frozen=True, order=True)
class Task:
    """Layer ``layer`` (0-based, global) of chunk ``chunk``, forward or backward, on
    ``stage``."""

    stage: int
    chunk: int
    layer: int
    backward: bool = False

    def label(self) -> str:
        return f"{'B' if self.backward else 'F'}{self.chunk}.{self.layer}"


@dataclass(frozen=True)
class PipelineSchedule:
    """``clocks[t][s]``: the task stage ``s`` runs at clock ``t`` (``None``: idle)."""

    stage_layers: tuple[int, ...]
    chunks: int
    mode: Mode
    kind: Kind
    clocks: tuple[tuple[Task | None, ...], ...]

    @property
    def stages(self) -> int:
        return len(self.stage_layers)

    @property
    def bubble_fraction(self) -> float:
        """Idle stage-clocks over all stage-clocks of the step."""
        slots = len(self.clocks) * self.stages
        busy = sum(task is not None for row in self.clocks for task in row)
        return 1.0 - busy / slots if slots else 0.0

    def render(self) -> str:
        """One line per stage, one column per clock (``.``: idle)."""
        width = max((len(t.label()) for row in self.clocks for t in row if t), default=1)
        lines = []
        for stage in range(self.stages):
            cells = [_label(row[stage]).ljust(width) for row in self.clocks]
            lines.append(f"stage {stage}: " + " ".join(cells))
        return "\n".join(lines)


def _label(task: Task | None) -> str:
    return task.label() if task is not None else "."


def gpipe_bubble(stages: int, chunks: int) -> float:
    """GPipe's bubble for equal stages and independent chunks: ``(S - 1) / (M + S - 1)``."""
    return (stages - 1) / (chunks + stages - 1)


@dataclass
class _State:
    """What has run so far, and how many chunks each stage holds between F and B."""

    done: set[Task] = field(default_factory=set)
    in_flight: list[set[int]] = field(default_factory=list)


def pipeline_schedule(stage_layers: Sequence[int], chunks: int,
                      into: Sequence[Sequence[int]], mode: Mode = "exact",
                      kind: Kind = "gpipe") -> PipelineSchedule:
    """The clock-by-clock schedule of one pipelined step.

    Args:
        stage_layers: layers per stage, in order (each >= 1).
        chunks: ``M`` >= 1.
        into: ``into[c]``: the chunks with an edge into chunk ``c`` (``c`` itself may be
            listed or not); only ``exact`` mode reads it.
        mode: ``exact``, ``historical`` or ``naive`` (module docstring).
        kind: ``gpipe`` or ``1f1b``.
    """
    _check(stage_layers, chunks, into, mode, kind)
    stage_of = [s for s, count in enumerate(stage_layers) for _ in range(count)]
    graph = _Dependencies(stage_of, chunks, into, mode)
    state = _State(in_flight=[set() for _ in stage_layers])
    pending = {Task(stage_of[layer], chunk, layer, backward)
               for chunk in range(chunks) for layer in range(len(stage_of))
               for backward in (False, True)}
    clocks: list[tuple[Task | None, ...]] = []
    while pending:
        row = _clock(pending, state, graph, kind, len(stage_layers))
        if not any(row):
            row = _clock(pending, state, graph, kind, len(stage_layers), limit=False)
        for task in row:
            if task is not None:
                _finish(task, pending, state, stage_layers)
        clocks.append(row)
    return PipelineSchedule(tuple(stage_layers), chunks, mode, kind, tuple(clocks))


class _Dependencies:
    """Which tasks a task waits for, by mode."""

    def __init__(self, stage_of: list[int], chunks: int, into: Sequence[Sequence[int]],
                 mode: Mode) -> None:
        self.stage_of = stage_of
        exact = mode == "exact"
        self.into = [sorted({c, *into[c]}) if exact else [c] for c in range(chunks)]
        out: list[set[int]] = [{c} for c in range(chunks)]
        for c in range(chunks):
            for source in self.into[c]:
                out[source].add(c)
        self.out_of = [sorted(targets) for targets in out]

    def _task(self, chunk: int, layer: int, backward: bool) -> Task:
        return Task(self.stage_of[layer], chunk, layer, backward)

    def ready(self, task: Task, done: set[Task]) -> bool:
        """Forward: the layer below of the chunk and its in-chunks is done. Backward: its own
        forward, and the layer above of the chunk and its out-chunks, are done."""
        chunk, layer = task.chunk, task.layer
        if not task.backward:
            return layer == 0 or all(self._task(c, layer - 1, False) in done
                                     for c in self.into[chunk])
        if self._task(chunk, layer, False) not in done:
            return False
        return layer == len(self.stage_of) - 1 or all(
            self._task(c, layer + 1, True) in done for c in self.out_of[chunk])


def _clock(pending: set[Task], state: _State, graph: _Dependencies, kind: Kind, stages: int,
           limit: bool = True) -> tuple[Task | None, ...]:
    """The task each stage runs this clock: its first ready task in the schedule's order."""
    row: list[Task | None] = []
    for stage in range(stages):
        ready = [t for t in pending if t.stage == stage and graph.ready(t, state.done)]
        row.append(_pick(ready, state.in_flight[stage], kind, stages - stage, limit))
    return tuple(row)


def _pick(ready: list[Task], in_flight: set[int], kind: Kind, cap: int,
          limit: bool) -> Task | None:
    """GPipe: forwards first (by chunk, then layer), backwards after them (by chunk, deepest
    layer first); 1F1B: a ready backward first, else a forward while the stage holds fewer
    than ``cap`` chunks (or, with ``limit`` off, any forward)."""
    forwards = sorted((t for t in ready if not t.backward), key=lambda t: (t.chunk, t.layer))
    backwards = sorted((t for t in ready if t.backward), key=lambda t: (t.chunk, -t.layer))
    if kind == "gpipe":
        first = forwards or backwards
        return first[0] if first else None
    if backwards:
        return backwards[0]
    admissible = [t for t in forwards
                  if t.chunk in in_flight or len(in_flight) < cap or not limit]
    return admissible[0] if admissible else None


def _finish(task: Task, pending: set[Task], state: _State, stage_layers: Sequence[int]) -> None:
    pending.discard(task)
    state.done.add(task)
    first_layer = sum(stage_layers[: task.stage])
    if not task.backward:
        state.in_flight[task.stage].add(task.chunk)
    elif task.layer == first_layer:  # the chunk's last backward on this stage
        state.in_flight[task.stage].discard(task.chunk)


def _check(stage_layers: Sequence[int], chunks: int, into: Sequence[Sequence[int]],
           mode: str, kind: str) -> None:
    problems = (
        (len(stage_layers) >= 1 and all(n >= 1 for n in stage_layers),
         f"every stage needs at least one layer, got {list(stage_layers)}"),
        (chunks >= 1, f"chunks must be >= 1, got {chunks}"),
        (len(into) == chunks, f"into has {len(into)} entries for {chunks} chunks"),
        (all(0 <= c < chunks for row in into for c in row),
         f"into names chunks outside 0..{chunks - 1}"),
        (mode in MODES, f"mode {mode!r} is not one of {', '.join(MODES)}"),
        (kind in KINDS, f"schedule {kind!r} is not one of {', '.join(KINDS)}"),
    )
    for ok, message in problems:
        if not ok:
            raise ValueError(message)
