"""Every algorithm family pargnn knows, and the questions asked of them by name.

One line per family (:data:`FAMILIES`); each family's package declares everything else
(:class:`~pargnn.algorithms.family.AlgorithmFamily`). The configuration's ``--algo`` choices,
the planner's candidates, the exact model and the runtime all look families up here, so
adding an algorithm is adding its package and its line.
"""

from __future__ import annotations

from pargnn.algorithms import grid, one_five_d, sparsity_aware, sparsity_aware_replicated
from pargnn.algorithms.family import AlgorithmFamily
from pargnn.errors import ConfigError
from pargnn.layout.spec import GridSpec

FAMILIES: tuple[AlgorithmFamily, ...] = (
    grid.FAMILY,
    one_five_d.FAMILY,
    sparsity_aware.FAMILY,
    sparsity_aware_replicated.FAMILY,
)

ALGORITHMS: tuple[str, ...] = tuple(name for f in FAMILIES for name in f.names)
DEFAULT_ALGORITHM: str = ALGORITHMS[0]  # the first family's first name: 1D
PARTITIONED: tuple[str, ...] = tuple(name for f in FAMILIES if f.partitioned for name in f.names)
REPLICATED: tuple[str, ...] = tuple(name for f in FAMILIES if f.replicated for name in f.names)


def family_of(name: str) -> AlgorithmFamily:
    """The family that runs ``--algo name``."""
    for family in FAMILIES:
        if name in family.names:
            return family
    raise ConfigError(f"--algo {name!r} is not one of: {', '.join(ALGORITHMS)}")


def plan_grid(algorithm: str, nprocs: int, grid: str | None = None,
              replication: int | None = None) -> GridSpec:
    """Check a requested layout against ``nprocs`` and return it in normal form."""
    family = family_of(algorithm)
    if nprocs < 1:
        raise ConfigError(f"--nprocs must be >= 1, got {nprocs}")
    if not family.replicated and replication not in (None, 1):
        raise ConfigError(f"--replication applies to --algo {' and '.join(REPLICATED)} only "
                          f"(got {algorithm})")
    return family.shapes.spec(algorithm, nprocs, grid, replication)


def layouts(nprocs: int) -> list[GridSpec]:
    """Every grid of every family that the planner considers for ``nprocs`` processes."""
    return [spec for family in FAMILIES for spec in family.shapes.layouts(nprocs)]
