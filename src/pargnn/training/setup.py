"""From a graph and a configuration to the objects a run needs: device, data, algorithm, model.

Kept apart from the loop so that the distributed setups of later algorithms can reuse the
same preprocessing (feature normalisation, adjacency normalisation) and hand the loop an
algorithm of their own.
"""

from __future__ import annotations

import numpy as np
import torch

from pargnn.errors import ConfigError
from pargnn.graph.graph import Graph
from pargnn.graph.normalize import normalize_adjacency, row_normalize_features
from pargnn.nn.models import MODELS, GraphModel
from pargnn.spmm.contract import LocalData
from pargnn.spmm.local import SparseOperator
from pargnn.spmm.single import SingleProcess
from pargnn.training.config import TrainConfig

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(choice: str) -> torch.device:
    """``auto`` takes CUDA when present; ``cuda`` without CUDA is a clear error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu")
    return torch.device(choice)


def prepared_features(graph: Graph, mode: str) -> np.ndarray:
    """The input features after the configured normalisation (``auto``, ``row``, ``none``)."""
    x = graph.features
    if mode == "row" or (mode == "auto" and bool((x >= 0).all())):
        return row_normalize_features(x)
    return x


def local_data_for_all(
    graph: Graph, features: np.ndarray, dtype: torch.dtype, device: torch.device
) -> LocalData:
    """Every vertex's data, for the single-process algorithm."""

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(device)

    return LocalData(
        features=torch.from_numpy(features).to(device=device, dtype=dtype),
        labels=tensor(graph.labels),
        train_mask=tensor(graph.train_mask),
        val_mask=tensor(graph.val_mask),
        test_mask=tensor(graph.test_mask),
        row_ids=torch.arange(graph.num_nodes, device=device),
        feature_ids=torch.arange(graph.num_features, device=device),
    )


def build_model(config: TrainConfig, graph: Graph) -> GraphModel:
    return build_model_for(config, graph.num_features, graph.num_classes)


def build_model_for(config: TrainConfig, features: int, classes: int) -> GraphModel:
    """The configured model for ``features`` input columns and ``classes`` outputs: all it
    needs of a graph (the planner builds it from a graph's statistics alone)."""
    model_class = MODELS[config.model]
    return model_class(
        in_features=features,
        hidden=config.hidden,
        num_classes=classes,
        layers=config.layers,
        dropout=config.dropout,
        bias=config.bias,
        activation=config.activation,
        seed=config.seed,
        heads=config.heads,
    )


def build_single_process(
    graph: Graph, config: TrainConfig, device: torch.device
) -> SingleProcess:
    dtype = DTYPES[config.dtype]
    adjacency = normalize_adjacency(graph.adjacency(), MODELS[config.model].normalization)
    operator = SparseOperator.from_scipy(adjacency, dtype=dtype, device=device)
    features = prepared_features(graph, config.feature_norm)
    return SingleProcess(operator, local_data_for_all(graph, features, dtype, device))
