"""pargnn: parallel full-graph training of graph neural networks.

Python API::

    import pargnn
    result = pargnn.train(pargnn.TrainConfig(dataset="cora", epochs=200))
    print(result.test_acc)

The names below load on first use, so that ``import pargnn.graph`` (or the CLI's ``--help``)
does not pay for the whole training stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pargnn.config import TrainConfig
    from pargnn.training.result import TrainResult
    from pargnn.training.run import train

__all__ = ["TrainConfig", "TrainResult", "train"]
__version__ = "0.1.0"

_LAZY = {
    "TrainConfig": "pargnn.config",
    "TrainResult": "pargnn.training.result",
    "train": "pargnn.training.run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pargnn' has no attribute {name!r}")
