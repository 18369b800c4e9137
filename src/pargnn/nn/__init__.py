"""Layers and models, written once against the algorithm contract."""

from pargnn.nn.gcn import GCNConv
from pargnn.nn.labelprop import LabelPropagation
from pargnn.nn.models import GAT, GCN, GIN, MODELS, SAGE, GraphModel, build_model
from pargnn.nn.options import ModelOptions

__all__ = ["GAT", "GCN", "GCNConv", "GIN", "MODELS", "SAGE", "GraphModel", "LabelPropagation",
           "ModelOptions", "build_model"]
