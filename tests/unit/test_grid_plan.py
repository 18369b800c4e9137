"""Which grids each algorithm accepts, and the messages for the ones it refuses."""

from __future__ import annotations

import pytest

from pargnn.algorithms.registry import plan_grid
from pargnn.errors import ConfigError
from pargnn.layout.spec import shapes_3d, valid_replications


@pytest.mark.parametrize("algo,p,grid,replication,shape", [
    ("1d", 5, None, None, (5, 1, 1)),
    ("2d", 6, None, None, (2, 3, 1)),
    ("2d", 6, "3x2", None, (3, 2, 1)),
    ("2d", 2, None, None, (1, 2, 1)),
    ("3d", 8, None, None, (2, 2, 2)),
    ("3d", 4, "1x2x2", None, (1, 2, 2)),
    ("3d", 6, None, None, (3, 1, 2)),
    ("1.5d", 8, None, 2, (4, 2)),
    ("1.5d", 16, None, None, (4, 4)),
    ("1.5d", 8, "4x2", None, (4, 2)),
    ("sa1.5d", 8, None, 2, (4, 2)),
    ("sa1.5d", 9, None, None, (3, 3)),
])
def test_accepted_shapes(algo: str, p: int, grid: str | None, replication: int | None,
                         shape: tuple[int, ...]) -> None:
    spec = plan_grid(algo, p, grid, replication)
    assert spec.shape == shape and spec.size == p


@pytest.mark.parametrize("algo,p,grid,replication,fragment", [
    ("2d", 6, "2x2", None, "grids that do: 1x6, 2x3, 3x2, 6x1"),
    ("2d", 6, "6", None, "grids that do"),
    ("3d", 6, "2x2x2", None, "1x2x3"),
    ("1.5d", 6, None, 4, "replications that do: 1, 2"),
    ("1.5d", 8, None, 3, "replications that do: 1, 2"),
    ("1d", 4, "2x2", None, "drop --grid"),
    ("2d", 4, None, 2, "--replication applies to --algo 1.5d and sa1.5d only"),
    ("sa1d", 4, None, 2, "--replication applies to --algo 1.5d and sa1.5d only"),
    ("sa1.5d", 8, None, 4, "--algo sa1.5d with 8 processes"),
    ("4d", 4, None, None, "1d, 2d, 3d, 1.5d, sa1d, sa1.5d"),
    ("2d", 4, "twoxtwo", None, "write it as RxC"),
])
def test_refusals_list_what_would_work(algo: str, p: int, grid: str | None,
                                       replication: int | None, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        plan_grid(algo, p, grid, replication)
    assert fragment in str(error.value)


def test_every_3d_shape_multiplies_to_p() -> None:
    for p in range(1, 25):
        assert all(r * c * layers == p for r, c, layers in shapes_3d(p))
        assert all(p % c == 0 and c * c <= p for c in valid_replications(p))
