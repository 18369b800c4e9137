"""``--algo auto`` and ``pargnn plan``: the planner applied to a training configuration.

:func:`plan_training` plans a :class:`~pargnn.config.TrainConfig` (its graph, model
and precision) for ``nprocs`` processes with a profile; :func:`resolve_auto` turns
``--algo auto`` into the chosen layout before any process starts, so that a run with
``--algo auto`` is exactly the run with the chosen flags.

The partitions the sparsity-aware candidates need are computed as training would (same seed,
weights and cache). METIS on a large graph takes seconds (9 s for 10M non-zeros here), so
``pargnn plan`` runs it only up to :data:`QUICK_METIS_NNZ` non-zeros or when the partition is
already in ``--partition-cache``; otherwise those candidates are listed as skipped. Training
with ``--algo auto`` always computes them, since it will use the chosen one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pargnn.algorithms.prepare import PreparedGraph
from pargnn.config import TrainConfig
from pargnn.cost.problem import PartitionSource
from pargnn.errors import ConfigError
from pargnn.graph.partition import Partition, cached_partition, partition_graph
from pargnn.planner.planner import Candidate, Plan, make_plan, measured_sparse
from pargnn.planner.problem import problem_for
from pargnn.planner.profile import Profile, load_profile

QUICK_METIS_NNZ = 2_000_000


@dataclass(frozen=True)
class PlannedRun:
    """The configuration to train and the plan that chose it."""

    config: TrainConfig
    plan: Plan
    default_profile: bool


def partition_source(prepared: PreparedGraph, config: TrainConfig, quick: bool
                     ) -> PartitionSource:
    """Partitions as training computes them; with ``quick``, METIS only on small graphs or
    from the cache."""
    adjacency = prepared.adjacency
    cache: dict[tuple[int, str], Partition | None] = {}

    def source(parts: int, method: str) -> Partition | None:
        key = (parts, method)
        if key not in cache:
            settings = (config.seed, config.partition_weights)
            if quick and method == "metis" and adjacency.nnz > QUICK_METIS_NNZ:
                cache[key] = (None if config.partition_cache is None else cached_partition(
                    adjacency, parts, method, *settings, config.partition_cache))
            else:
                cache[key] = partition_graph(adjacency, parts, method, *settings,
                                             config.partition_cache)
        return cache[key]

    return source


def _allowed(config: TrainConfig) -> Callable[[Candidate], bool]:
    def allowed(candidate: Candidate) -> bool:
        return config.partition is None or candidate.partition in (None, config.partition)

    return allowed


def plan_training(prepared: PreparedGraph, config: TrainConfig, nprocs: int,
                  profile: Profile, quick: bool) -> Plan:
    """Every layout for ``nprocs`` processes, predicted for ``config``'s model on the
    prepared graph."""
    problem = problem_for(prepared, config)
    partitions = partition_source(prepared, config, quick)
    here = profile.origin == "calibrated" and profile.device == "cpu"
    return make_plan(problem, nprocs, profile, partitions, _allowed(config),
                     sparse=measured_sparse(problem, partitions, profile) if here else None)


def resolve_auto(config: TrainConfig, prepared: PreparedGraph, nprocs: int) -> PlannedRun:
    """``config`` with ``--algo auto`` replaced by the planner's choice."""
    profile = load_profile(config.profile)
    plan = plan_training(prepared, config, nprocs, profile, quick=False)
    choice = plan.choice
    if choice is None:
        raise ConfigError(f"--algo auto: {plan.explanation()}")
    settings = choice.candidate.settings()
    return PlannedRun(config.replace(**settings), plan, config.profile is None)


def announce_plan(planned: PlannedRun, config: TrainConfig) -> None:
    """Say what ``--algo auto`` chose and why (unless ``--quiet``)."""
    if config.quiet:
        return
    note = (" (profile local-default: run `pargnn calibrate` for this machine's)"
            if planned.default_profile else "")
    print(f"--algo auto: {planned.plan.explanation()}{note}", flush=True)
