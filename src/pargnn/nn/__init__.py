"""Layers and models, written once against the algorithm contract."""

from pargnn.nn.gcn import GCNConv
from pargnn.nn.models import GCN, MODELS

__all__ = ["GCN", "GCNConv", "MODELS"]
