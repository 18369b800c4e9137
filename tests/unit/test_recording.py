"""The cost models read a model's steps through the contract, not by layer class: a layer
written here, which no cost code knows, is priced by the exact model and the estimate."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pargnn.algorithms.contract import Algorithm
from pargnn.algorithms.exact import predict_epoch
from pargnn.algorithms.recording import model_steps
from pargnn.algorithms.registry import plan_grid
from pargnn.config import TrainConfig
from pargnn.cost.estimate import estimate_epoch
from pargnn.cost.steps import Op
from pargnn.dist import phases
from pargnn.nn.init import glorot_
from pargnn.nn.models import GAT, GCN, GraphModel
from pargnn.training.run import prepare
from tests.dist.test_equivalence import random_graph


class TwoHopConv(nn.Module):
    """``Z = (A^T)^2 H W + b``: two aggregations per layer."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def reset_parameters(self, generator: torch.Generator) -> None:
        glorot_(self.weight, generator)

    def forward(self, algorithm: Algorithm, h: Tensor, attention_key: int = 0) -> Tensor:
        twice = algorithm.aggregate(algorithm.aggregate(algorithm.transform(h, self.weight)))
        return algorithm.add_bias(twice, self.bias)


class TwoHop(GraphModel):
    def make_layer(self, in_features: int, out_features: int, last: bool) -> TwoHopConv:
        return TwoHopConv(in_features, out_features)


def test_gat_steps_are_recorded_from_its_calls() -> None:
    steps = model_steps(GAT(12, 4, 3, layers=2, heads=5))
    assert steps == [
        [Op("transform", f_in=12, f_out=20, input_needs_grad=False),
         Op("head_scores", 20, heads=5), Op("head_scores", 20, heads=5),
         Op("attend", 20, heads=5), Op("bias", 20)],
        [Op("transform", f_in=20, f_out=3), Op("head_scores", 3, heads=1),
         Op("head_scores", 3, heads=1), Op("attend", 3, heads=1), Op("bias", 3)],
    ]


def test_a_layer_no_cost_code_knows_is_priced() -> None:
    """Two aggregations per layer cost exactly twice GCN's (which transforms first too)."""
    graph = random_graph()
    prepared = prepare(graph, TrainConfig(dataset=graph.name))
    two_hop = model_steps(TwoHop(graph.num_features, 7, graph.num_classes))
    gcn = model_steps(GCN(graph.num_features, 7, graph.num_classes))
    assert [len(layer) for layer in two_hop] == [4, 4]
    spec = plan_grid("1d", 3)
    ours, theirs = (predict_epoch(spec, graph.num_nodes, prepared.at, prepared.a, steps,
                                  graph.num_classes, 8) for steps in (two_hop, gcn))
    for phase in (phases.FORWARD_AGGREGATION, phases.BACKWARD_AGGREGATION):
        assert [t.bytes[phase] for t in ours] == [2 * t.bytes[phase] for t in theirs] != [0] * 3
    assert [t.bytes[phases.DENSE_TRANSFORM] for t in ours] == [
        t.bytes[phases.DENSE_TRANSFORM] for t in theirs]
    estimate = estimate_epoch(two_hop, nnz=100, rows=graph.num_nodes)
    assert estimate["spmm_calls"] == 2 * estimate_epoch(gcn, 100, graph.num_nodes)["spmm_calls"]
