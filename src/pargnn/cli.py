"""The ``pargnn`` command line: ``pargnn train`` and ``pargnn datasets``.

The ``train`` options are generated from :class:`pargnn.training.config.TrainConfig`, the one
place they are defined. A :class:`~pargnn.errors.PargnnError` (bad input, missing files, a
setting that cannot run) is printed as one message and exits with status 2; nothing else is
caught, so a bug in pargnn keeps its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pargnn.errors import PargnnError
from pargnn.training.config import TrainConfig

EXIT_USER_ERROR = 2


def _scalar_type(annotation: Any) -> Any:
    """``int | None`` -> ``int``; plain types unchanged."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`TrainConfig` field, named after it (``weight_decay`` ->
    ``--weight-decay``; a switch that defaults to on, ``bias``, -> ``--no-bias``)."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _scalar_type(hints[f.name])
        help_text = f.metadata["help"]
        if kind is bool:
            if f.default:  # a default-on switch is turned off with --no-NAME
                flag = "--no-" + f.name.replace("_", "-")
            action = "store_false" if f.default else "store_true"
            parser.add_argument(flag, dest=f.name, action=action, default=f.default,
                                help=help_text)
            continue
        default_text = "" if f.default is None else f" [default: {f.default}]"
        parser.add_argument(
            flag,
            type=kind,
            default=f.default,
            choices=f.metadata.get("choices"),
            help=help_text + default_text,
            metavar=None if f.metadata.get("choices") else f.name.upper(),
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pargnn", description="Parallel full-graph training of graph neural networks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a model", description="Train a model.")
    add_config_arguments(train)
    datasets = commands.add_parser("datasets", help="list the named datasets and where they are")
    datasets.add_argument("--data-root", default=None, help="folder holding the named datasets")
    return parser


def _config_from(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**values)


def run_train(args: argparse.Namespace) -> int:
    from pargnn.training.loop import train
    from pargnn.training.report import ConsoleReport, summary_table

    config = _config_from(args)
    observer = None if config.quiet else ConsoleReport()
    result = train(config, observer=observer)
    if result.rank != 0:
        return 0
    if not config.quiet:
        Console(stderr=True).print(summary_table(result))
    else:
        print(f"test accuracy {result.test_acc:.4f} (best val {result.val_acc:.4f} "
              f"at epoch {result.best_epoch})")
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    from pargnn.graph.datasets import default_data_root, describe_datasets
    from pargnn.graph.synthetic import DEFAULT_SPEC

    root = args.data_root or default_data_root()
    table = Table(title=f"named datasets under {root}")
    for column in ("name", "description", "looked for", "found"):
        table.add_column(column)
    for row in describe_datasets(args.data_root):
        table.add_row(str(row["name"]), str(row["description"]), str(row["path"]),
                      "yes" if row["found"] else "no")
    console = Console()
    console.print(table)
    console.print("Synthetic graphs need no files: rmat:nodes=N,degree=D,features=F,classes=C "
                  "or sbm:nodes=N,blocks=B,p_in=P,p_out=Q,features=F.")
    console.print(f"Built-in default: {DEFAULT_SPEC}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"train": run_train, "datasets": run_datasets}
    try:
        return handlers[args.command](args)
    except PargnnError as error:
        console = Console(stderr=True, soft_wrap=True)
        console.print(f"[bold red]pargnn: error:[/] {escape(str(error))}", highlight=False)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        Console(stderr=True).print("pargnn: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
