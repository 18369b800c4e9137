"""The training configuration: one dataclass, the single source for the CLI and the API.

Every option of ``pargnn train`` is a field here; :mod:`pargnn.cli` builds its argument parser
from the fields' metadata (flag, help, choices), so the CLI, the Python API and the ``config``
block of the JSON output can never disagree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from pargnn.algorithms.prepare import BuildOptions
from pargnn.algorithms.registry import ALGORITHMS, DEFAULT_ALGORITHM, PARTITIONED
from pargnn.errors import ConfigError
from pargnn.graph.partition import PARTITIONERS, VERTEX_WEIGHTS
from pargnn.graph.synthetic import DEFAULT_SPEC
from pargnn.nn.models import ACTIVATIONS, MODELS
from pargnn.nn.options import ModelOptions
from pargnn.optim import OPTIMIZERS

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MODES = ("full", "minibatch")
DEFAULT_BATCH_SIZE = 512
DEFAULT_FANOUT = 10


def _option(default: Any, help: str, choices: tuple[str, ...] | None = None, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, **kw})


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; defaults are Kipf & Welling's GCN settings."""

    dataset: str = _option(
        DEFAULT_SPEC,
        "a named dataset (see `pargnn datasets`), a path to a dataset file or folder, or a "
        "synthetic spec such as rmat:nodes=100000,degree=10; the default is a built-in "
        "synthetic graph",
    )
    data_root: str | None = _option(
        None, "folder holding the named datasets (default: $PARGNN_DATA or the user cache dir)"
    )
    model: str = _option("gcn", "the model", choices=tuple(MODELS))
    layers: int = _option(
        2, "number of graph layers (--model labelprop: the propagation iterations K)")
    heads: int = _option(8, "attention heads of each hidden GAT layer (the output layer has 1)")
    hidden: int = _option(16, "width of each hidden layer")
    alpha: float | None = _option(
        None, "label propagation (--model labelprop): the weight of the propagated labels, "
        "in (0, 1); default 0.9"
    )
    residual: bool = _option(
        False, "residual connections: each hidden layer adds its input to its output (where "
        "the widths agree), so that deep models train")
    dropout: float = _option(0.5, "dropout probability on each layer's input")
    bias: bool = _option(True, "learnable bias in every layer (--no-bias: none)")
    activation: str = _option("relu", "activation between layers", choices=tuple(ACTIVATIONS))
    mode: str = _option(
        "full", "full: full-graph training (one step per epoch); minibatch: sampled "
        "mini-batches, data-parallel over --nprocs", choices=MODES)
    batch_size: int | None = _option(
        None, f"--mode minibatch: seeds per global batch, shared by all processes (default "
        f"{DEFAULT_BATCH_SIZE}; more than the training vertices: one batch)")
    fanout: str | tuple[int, ...] | None = _option(
        None, "--mode minibatch: neighbours drawn per hop from the seeds outwards, one per "
        f"layer, e.g. 15,10 (-1: all; default {DEFAULT_FANOUT} per layer)")
    optimizer: str = _option(
        "adam", "adam; sgd (with --momentum); lars, lamb: layer-wise adaptive rates for large "
        "batches (biases and 1-D parameters excluded)", choices=OPTIMIZERS)
    lr: float = _option(0.01, "learning rate")
    weight_decay: float = _option(
        5e-4, "weight decay (adam, sgd: L2 on every parameter; lars, lamb: on weight matrices)")
    momentum: float = _option(0.9, "momentum of --optimizer sgd and lars")
    trust_coefficient: float = _option(
        0.001, "--optimizer lars: the trust coefficient eta of eta ||w|| / (||g|| + wd ||w||)")
    epochs: int = _option(200, "training epochs")
    seed: int = _option(0, "seeds the initial weights and the dropout masks")
    feature_norm: str = _option(
        "auto",
        "row-normalise features: auto (when all are non-negative, e.g. bag-of-words), row, none",
        choices=("auto", "row", "none"),
    )
    nprocs: int = _option(1, "processes to train on (1: the single-process path)")
    algo: str = _option(
        DEFAULT_ALGORITHM,
        "distributed algorithm for --nprocs > 1 (sa1d, sa1.5d: sparsity-aware 1D, 1.5D; auto: "
        "the planner's choice, see `pargnn plan`)",
        choices=(*ALGORITHMS, "auto"),
    )
    grid: str | None = _option(
        None, "process grid RxC (2d) or RxCxL (3d); default: the most balanced for --nprocs"
    )
    replication: int | None = _option(
        None,
        "replication factor c of --algo 1.5d and sa1.5d (c divides P, c^2 <= P; default: "
        "largest)",
    )
    permute: bool = _option(
        False, "randomly permute the vertices before cutting blocks (balances power-law graphs)"
    )
    partition: str | None = _option(
        None, "how --algo sa1d and sa1.5d cut the graph into parts (default: metis)",
        choices=PARTITIONERS,
    )
    partition_weights: str = _option(
        "none", "METIS vertex weights: none balances vertex counts, degree balances edges",
        choices=VERTEX_WEIGHTS,
    )
    partition_cache: str | None = _option(
        None, "folder to keep partitions in, keyed by the graph and the settings"
    )
    profile: str | None = _option(
        None, "machine profile for --algo auto: a file from `pargnn calibrate` or a built-in "
        "name (local-default, cpu-cluster-ethernet, gpu-cluster-infiniband); default: "
        "local-default"
    )
    threads: int | None = _option(None, "CPU threads per process (default: torch's choice)")
    device: str = _option(
        "auto", "where to train: auto takes CUDA when present", choices=("auto", "cpu", "cuda")
    )
    dtype: str = _option(
        "float32", "floating-point precision", choices=("float32", "float64")
    )
    out: str | None = _option(None, "write the run's results to this JSON file")
    quiet: bool = _option(False, "no progress bar and no summary table")
    trace_memory: bool = _option(
        False, "measure the training state in tensor bytes during the second training step "
        "(that step runs slower under the profiler)"
    )

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting that cannot run."""
        checks = (
            (self.layers >= 1, f"--layers must be >= 1, got {self.layers}"),
            (self.hidden >= 1, f"--hidden must be >= 1, got {self.hidden}"),
            (self.heads >= 1, f"--heads must be >= 1, got {self.heads}"),
            (0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.nprocs >= 1, f"--nprocs must be >= 1, got {self.nprocs}"),
            (not (self.residual and self.model == "labelprop"),
             "--residual applies to the trained models, not to --model labelprop"),
            (self.alpha is None or self.model == "labelprop",
             f"--alpha applies to --model labelprop, not to --model {self.model}"),
            (self.alpha is None or 0.0 < self.alpha < 1.0,
             f"--alpha must be in (0, 1), got {self.alpha}"),
            (self.threads is None or self.threads >= 1,
             f"--threads must be >= 1, got {self.threads}"),
            (self.partition is None or self.algo in (*PARTITIONED, "auto"),
             f"--partition applies to --algo {', '.join(PARTITIONED)}; the broadcast "
             "algorithms cut contiguous blocks (--permute shuffles them)"),
            (not (self.permute and self.algo in PARTITIONED),
             f"--permute does not apply to --algo {self.algo}; use --partition random"),
            (not (self.algo == "auto" and (self.permute or self.grid or self.replication)),
             "--algo auto chooses the grid, the replication and the vertex order itself; drop "
             "--grid, --replication and --permute, or name the algorithm"),
        )
        if self.mode == "minibatch":  # before the layout checks: name the flag, not the algo
            check_minibatch(self)
        for ok, message in (*checks, *self._optimizer_checks()):
            if not ok:
                raise ConfigError(message)
        if self.mode != "minibatch":
            for name in ("batch_size", "fanout"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{_flag(name)} applies to --mode minibatch; add "
                                      "--mode minibatch or drop it")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise ConfigError(f"{_flag(f.name)} {value!r} is not one of: "
                                  f"{', '.join(choices)}")

    def _optimizer_checks(self) -> tuple[tuple[bool, str], ...]:
        return (
            (0.0 <= self.momentum < 1.0, f"--momentum must be in [0, 1), got {self.momentum}"),
            (self.trust_coefficient > 0,
             f"--trust-coefficient must be > 0, got {self.trust_coefficient}"),
        )

    def fanouts(self) -> tuple[int, ...]:
        """The fanout per hop, seeds outwards (:func:`parse_fanout`)."""
        return parse_fanout(self.fanout, self.layers)

    @property
    def global_batch_size(self) -> int:
        return self.batch_size if self.batch_size is not None else DEFAULT_BATCH_SIZE

    def model_options(self, features: int, classes: int) -> ModelOptions:
        """The configured model's options for ``features`` input columns and ``classes``
        outputs: all it needs of a graph (the planner builds it from statistics alone)."""
        extra = {} if self.alpha is None else {"alpha": self.alpha}
        return ModelOptions(in_features=features, num_classes=classes, hidden=self.hidden,
                            layers=self.layers, dropout=self.dropout, bias=self.bias,
                            activation=self.activation, seed=self.seed, heads=self.heads,
                            residual=self.residual, **extra)

    def build_options(self, device: torch.device) -> BuildOptions:
        """How each rank builds its algorithm: precision, device, vertex order."""
        return BuildOptions(dtype=DTYPES[self.dtype], device=device, seed=self.seed,
                            permute=self.permute, partition=self.partition,
                            partition_weights=self.partition_weights,
                            partition_cache=self.partition_cache)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FULL_GRAPH_ONLY = ("grid", "replication", "permute", "partition")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_fanout(text: str | tuple[int, ...] | None, layers: int) -> tuple[int, ...]:
    """``"15,10"`` (or ``(15, 10)`` from Python) -> ``(15, 10)``: one entry per layer, each
    ``>= 1`` or ``-1`` (all neighbours); ``None`` gives the default for every layer."""
    if text is None:
        return (DEFAULT_FANOUT,) * layers
    example = ",".join(["10"] * layers)
    parts = str(text).split(",") if isinstance(text, str) else list(text)
    try:
        fanouts = tuple(_whole(part) for part in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"--fanout {text!r}: expected integers separated by commas, e.g. "
                          f"{example}") from None
    if len(fanouts) != layers:
        raise ConfigError(f"--fanout {text!r} has {len(fanouts)} entries; the model has "
                          f"{layers} layers, so give {layers}, e.g. {example}")
    if any(f < 1 and f != -1 for f in fanouts):
        raise ConfigError(f"--fanout {text!r}: each entry must be >= 1, or -1 for all "
                          "neighbours")
    return fanouts


def _whole(value: object) -> int:
    """``value`` as an integer, refusing fractions (``2.5``) rather than truncating them."""
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)  # type: ignore[call-overload]


def check_minibatch(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` for a mini-batch setting that cannot run."""
    if config.batch_size is not None and config.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {config.batch_size}")
    if config.model == "labelprop":
        raise ConfigError("--model labelprop has no parameters to train on mini-batches; "
                          "use --mode full")
    if config.algo != DEFAULT_ALGORITHM:
        raise ConfigError(f"--algo {config.algo} lays out full-graph training; --mode "
                          "minibatch is data-parallel (each process trains its share of every "
                          "batch), so drop --algo")
    for name in FULL_GRAPH_ONLY:
        if getattr(config, name):
            raise ConfigError(f"{_flag(name)} applies to full-graph training; --mode "
                              "minibatch does not partition the graph, so drop it")
    parse_fanout(config.fanout, config.layers)
