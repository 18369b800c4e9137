"""The ``pargnn`` command line: ``train``, ``plan``, ``calibrate`` and ``datasets``.

The ``train`` options are generated from :class:`pargnn.config.TrainConfig`, the one
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

from pargnn.config import TrainConfig
from pargnn.errors import PargnnError

EXIT_USER_ERROR = 2


def _scalar_type(annotation: Any) -> Any:
    """``int | None`` -> ``int``; plain types unchanged."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


PLAN_IGNORES = ("algo", "grid", "replication", "permute", "epochs", "quiet", "lr",
                "weight_decay", "trace_memory", "alpha", "mode", "batch_size", "fanout",
                "optimizer", "momentum", "trust_coefficient")


def add_config_arguments(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One option per :class:`TrainConfig` field, named after it (``weight_decay`` ->
    ``--weight-decay``; a switch that defaults to on, ``bias``, -> ``--no-bias``), except the
    fields in ``skip``."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
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
        prog="pargnn",
        description="Parallel training of graph neural networks: full graphs or sampled "
        "mini-batches."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a model", description="Train a model.")
    add_config_arguments(train)
    plan = commands.add_parser(
        "plan", help="predict every layout for --nprocs and choose one",
        description="Predict messages, bytes, seconds and memory per epoch for every valid "
        "(algorithm, grid, replication, partitioner) on --nprocs processes, sorted by epoch "
        "time; `pargnn train --algo auto` trains the first that fits. The options are those "
        "of `pargnn train`; --out writes the plan as JSON.")
    add_config_arguments(plan, skip=PLAN_IGNORES)
    calibrate = commands.add_parser(
        "calibrate", help="measure this machine's collectives and kernels for the planner",
        description="Time every collective over message and group sizes, and the local "
        "kernels with all processes computing at once; fit alpha + beta x size and write a "
        "profile for `pargnn plan --profile` and `pargnn train --algo auto --profile`.")
    calibrate.add_argument("--nprocs", type=int, default=2,
                           help="processes to measure with (as many as training will use)")
    calibrate.add_argument("--threads", type=int, default=None,
                           help="CPU threads per process (as training will use)")
    calibrate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    calibrate.add_argument("--quick", action="store_true", help="fewer, smaller samples")
    calibrate.add_argument("--out", default="profile.json", help="where to write the profile")
    datasets = commands.add_parser("datasets", help="list the named datasets and where they are")
    datasets.add_argument("--data-root", default=None, help="folder holding the named datasets")
    return parser


def _config_from(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if hasattr(args, f.name)}
    return TrainConfig(**values)


def run_train(args: argparse.Namespace) -> int:
    from pargnn.training.report import ConsoleReport, figure, summary_table
    from pargnn.training.run import train

    config = _config_from(args)
    observer = None if config.quiet else ConsoleReport()
    result = train(config, observer=observer)
    if result.rank != 0:
        return 0
    if not config.quiet:
        Console(stderr=True).print(summary_table(result))
    else:
        print(f"test accuracy {figure(result.test_acc, 4)} (best val "
              f"{figure(result.val_acc, 4)} at epoch {result.best_epoch})")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from pargnn.planner.auto import plan_training
    from pargnn.planner.profile import DEFAULT_PROFILE, load_profile
    from pargnn.training.result import check_writable, write_json_atomic
    from pargnn.training.run import load, prepare

    config = _config_from(args)
    config.validate()
    if config.out:
        check_writable(config.out)
    console = Console()
    if config.profile is None:
        console.print(f"No --profile given: using the built-in {DEFAULT_PROFILE!r} guesses "
                      "(docs/profiles.md). Measure this machine with `pargnn calibrate "
                      f"--nprocs {config.nprocs} --out profile.json`, then pass --profile "
                      "profile.json.", highlight=False)
    profile = load_profile(config.profile)
    prepared = prepare(load(config), config.replace(quiet=True))
    plan = plan_training(prepared, config, config.nprocs, profile, quick=True)
    console.print(plan_table(plan))
    for candidate, why in plan.skipped:
        console.print(f"skipped {candidate.label}: {why}", highlight=False)
    console.print(plan.explanation(), highlight=False)
    if config.out:
        write_json_atomic(config.out, plan.as_dict())
    return 0


def plan_table(plan: Any) -> Table:
    """The plan's predictions, fastest first."""
    table = Table(title=f"{plan.nprocs} processes, profile {plan.profile.name} "
                        f"(planned in {plan.seconds:.2f} s)")
    for column in ("layout", "epoch ms", "comm ms", "compute ms", "messages",
                   "MB / epoch", "memory MB", "fits"):
        table.add_column(column, justify="left" if column == "layout" else "right")
    chosen = plan.choice
    for p in plan.predictions:
        mark = "[bold]" if p is chosen else ""
        table.add_row(f"{mark}{p.candidate.label}", f"{p.epoch_seconds * 1e3:.2f}",
                      f"{p.comm_seconds * 1e3:.2f}", f"{p.compute_seconds * 1e3:.2f}",
                      str(p.messages), f"{p.bytes / 1e6:.2f}", f"{p.memory_bytes / 1e6:.1f}",
                      "yes" if p.fits else "[red]no")
    return table


def run_calibrate(args: argparse.Namespace) -> int:
    from pargnn.planner.calibrate import calibrate
    from pargnn.planner.profile import save_profile
    from pargnn.training.result import check_writable

    check_writable(args.out)
    console = Console(stderr=True)
    profile = calibrate(args.nprocs, threads=args.threads, device=args.device,
                        quick=args.quick, progress=lambda text: console.print(text))
    save_profile(profile, args.out)
    console.print(f"wrote {args.out}: {profile.name}", highlight=False)
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
    handlers = {"train": run_train, "plan": run_plan, "calibrate": run_calibrate,
                "datasets": run_datasets}
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
