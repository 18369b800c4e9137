"""Graphs: the validated container, loaders, synthetic generators and normalisation."""

from pargnn.graph.graph import Graph

__all__ = ["Graph"]
