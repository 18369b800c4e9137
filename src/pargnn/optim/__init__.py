"""Optimisers, chosen by name: torch's Adam and SGD, and the layer-wise adaptive LARS and LAMB.

Why: full-graph training takes one step per epoch with the whole graph as its batch, so it
trains in few, large steps. LARS and LAMB scale each weight matrix's step to the size of that
matrix (a trust ratio), the remedy of large-batch training for layers that would otherwise
outrun the rest; torch ships neither. :func:`build_optimizer` is the one place a name from
the configuration becomes an optimiser.
"""

from pargnn.optim.factory import OPTIMIZERS, build_optimizer
from pargnn.optim.lamb import LAMB
from pargnn.optim.lars import LARS

__all__ = ["LAMB", "LARS", "OPTIMIZERS", "build_optimizer"]
