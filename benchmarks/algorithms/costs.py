"""Cost models shared by ``sweep.py`` and ``plot.py``: pargnn's exact model and CAGNET's table.

The exact model (:func:`pargnn.algorithms.exact.predict_epoch`) counts what pargnn's
collectives send in one training step, byte for byte; it needs only the graph and the grid, no
processes, so it can be evaluated for grids that were never run. CAGNET's table
(``../shared/DESIGN.md`` section 2) gives asymptotic words and memory per process; it is
evaluated literally here so that its ordering of the algorithms can be set beside the measured one.

Conventions for the literal evaluation of CAGNET's table (one epoch = every layer once,
forward and backward, as the table's per-layer formulas summed over the layers):

* ``n`` vertices, ``nnz(A)`` the stored non-zeros of the normalised operator (self loops
  included), ``P`` processes, ``c`` the replication: 1.5D's ``c``, 3D's layer dimension ``Pl``.
* bandwidth: ``f`` of a layer is the width its SpMM moves (pargnn's GCN transforms first when
  the layer narrows, so 64 for 128 -> 64 and 16 for 64 -> 16); 1D's ``f^2`` is the weight's
  ``f_in x f_out``. Both are read off the exact model's steps of the layer
  (:func:`pargnn.planner.problem.model_steps`).
* memory: ``f`` is the input feature width (what a rank stores), ``L`` the number of layers.
* words are 4 bytes (float32).

Not a script; imported by the scripts of this folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pargnn.algorithms.exact import predict_epoch
from pargnn.algorithms.prepare import PreparedGraph
from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.cost.steps import Op
from pargnn.cost.traffic import Traffic
from pargnn.errors import ConfigError
from pargnn.graph.datasets import load_dataset
from pargnn.graph.graph import Graph
from pargnn.layout.spec import GridSpec
from pargnn.planner.problem import model_steps
from pargnn.training.run import prepare

WORD_BYTES = 4
VALUE_BYTES = {"float32": 4, "float64": 8}


@dataclass(frozen=True)
class Problem:
    """One graph, prepared as the training run prepares it, and the model's layer steps."""

    graph: Graph
    prepared: PreparedGraph
    layers: list[list[Op]]
    value_bytes: int

    @property
    def n(self) -> int:
        return self.graph.num_nodes

    @property
    def nnz(self) -> int:
        return int(self.prepared.a.nnz)

    @property
    def features(self) -> int:
        return self.graph.num_features


def load_problem(config: TrainConfig) -> Problem:
    """The graph of ``config.dataset`` and the steps of ``config``'s model, per layer."""
    graph = load_dataset(config.dataset, config.data_root)
    prepared = prepare(graph, config)
    layers, _ = model_steps(config, graph.num_features, graph.num_classes)
    return Problem(graph, prepared, layers, VALUE_BYTES[config.dtype])


def exact_traffic(problem: Problem, spec: GridSpec) -> list[Traffic]:
    """pargnn's exact model: one training step's traffic per rank."""
    return predict_epoch(spec, problem.n, problem.prepared.at, problem.prepared.a,
                         problem.layers, problem.graph.num_classes, problem.value_bytes)


def replication(spec: GridSpec) -> int:
    """CAGNET's ``c``: 1.5D's replication, 3D's layer dimension, 1 otherwise."""
    if spec.algorithm == "1.5d":
        return spec.shape[1]
    if spec.algorithm == "3d":
        return spec.shape[2]
    return 1


def aggregated_width(layer: list[Op]) -> int:
    """The columns the layer's SpMMs move (CAGNET's ``f``)."""
    return sum(op.width for op in layer if op.kind == "aggregate")


def weight_words(layer: list[Op]) -> int:
    """The layer's weights (CAGNET's ``f^2``)."""
    return sum(op.f_in * op.f_out for op in layer if op.kind == "transform")


def cagnet_layer_words(algo: str, p: int, c: int, n: int, nnz: int, layer: list[Op]) -> float:
    """Bandwidth column of CAGNET's table for one layer (forward + backward)."""
    f = aggregated_width(layer)
    if algo == "1d":
        return 2 * n * f + weight_words(layer)
    if algo == "1.5d":
        return 2 * n * f / c + 2 * n * f * c / p
    if algo == "2d":
        return 8 * n * f / math.sqrt(p) + 2 * nnz / math.sqrt(p)
    if algo == "3d":
        return 2 * nnz / p ** (2 / 3) + 12 * n * f / p ** (2 / 3)
    raise ValueError(f"unknown algorithm {algo!r}")


def cagnet_layer_messages(algo: str, p: int, c: int) -> float:
    """Latency column of CAGNET's table for one layer."""
    if algo == "1d":
        return math.log2(p) + 2 * p
    if algo == "1.5d":
        stages = p / c**2
        return 2 * stages * math.log2(stages) if stages > 1 else 0.0
    if algo == "2d":
        return 5 * math.sqrt(p) + 3 * math.log2(p)
    if algo == "3d":
        return 4 * p ** (1 / 3)
    raise ValueError(f"unknown algorithm {algo!r}")


def cagnet_bytes(problem: Problem, spec: GridSpec) -> float:
    """CAGNET's bandwidth words for one epoch (every layer), as bytes."""
    c = replication(spec)
    words = sum(cagnet_layer_words(spec.algorithm, spec.size, c, problem.n, problem.nnz, layer)
                for layer in problem.layers)
    return words * WORD_BYTES


def cagnet_messages(problem: Problem, spec: GridSpec) -> float:
    c = replication(spec)
    return sum(cagnet_layer_messages(spec.algorithm, spec.size, c) for _ in problem.layers)


def cagnet_memory_bytes(problem: Problem, spec: GridSpec) -> float:
    """CAGNET's memory column: ``(nnz + nfL)/P``, plus ``nfc/P`` for 1.5D and 3D."""
    p, n, f, depth = spec.size, problem.n, problem.features, len(problem.layers)
    words = (problem.nnz + n * f * depth) / p
    if spec.algorithm in ("1.5d", "3d"):
        words += n * f * replication(spec) / p
    return words * WORD_BYTES


def default_spec(algo: str, p: int, replication_factor: int | None = None) -> GridSpec | None:
    """The default grid of ``algo`` at ``p`` (1.5D: the given ``c``), or None if none fits."""
    try:
        return plan_grid(algo, p, None, replication_factor)
    except ConfigError:
        return None
