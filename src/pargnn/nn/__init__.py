"""Layers and models, written once against the algorithm contract."""

from pargnn.nn.gcn import GCNConv
from pargnn.nn.models import GAT, GCN, GIN, MODELS, SAGE, GraphModel

__all__ = ["GAT", "GCN", "GCNConv", "GIN", "MODELS", "SAGE", "GraphModel"]
