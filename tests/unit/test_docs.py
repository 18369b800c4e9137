"""The documents describe what is there: every command and option, and only files and modules
that exist."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from pargnn.cli import build_parser
from pargnn.config import TrainConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_train_option_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    for field in dataclasses.fields(TrainConfig):
        prefix = "--no-" if field.default is True else "--"
        flag = prefix + field.name.replace("_", "-")
        assert f"| `{flag}` |" in text, f"{flag} is missing from docs/cli.md"


ROOT = DOCS.parent
PATH = re.compile(r"`((?:[\w.-]+/)*[\w.-]+\.py)`")
MODULE = re.compile(r"\bpargnn(?:\.\w+)+")


def _documents() -> list[Path]:
    return [*DOCS.glob("*.md"), ROOT / "README.md", *ROOT.glob("benchmarks/*/README.md")]


def _exists(cited: str, document: Path) -> bool:
    """A cited file, relative to the document, the repository, ``src`` or ``src/pargnn``; a
    bare file name (a module of the package a table row names) anywhere in the package."""
    bases = (document.parent, ROOT, ROOT / "src", ROOT / "src" / "pargnn")
    if "/" not in cited and any((ROOT / "src" / "pargnn").rglob(cited)):
        return True
    return any((base / cited).is_file() for base in bases)


def _module_exists(name: str) -> bool:
    """``pargnn.a.b`` names a module, or a name inside one (``pargnn.a.b.function``)."""
    module, _, attribute = name, "", ""
    while module:
        try:
            imported = importlib.import_module(module)
        except ImportError:
            module, _, rest = module.rpartition(".")
            attribute = f"{rest}.{attribute}".strip(".")
            continue
        return not attribute or hasattr(imported, attribute.split(".")[0])
    return False


@pytest.mark.parametrize("document", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_cite_files_and_modules_that_exist(document: Path) -> None:
    text = document.read_text()
    missing = [cited for cited in PATH.findall(text) if not _exists(cited, document)]
    assert not missing, f"{document.name} cites files that do not exist: {missing}"
    unknown = [name for name in MODULE.findall(text) if not _module_exists(name)]
    assert not unknown, f"{document.name} cites modules that do not exist: {unknown}"


def test_every_command_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, parser in commands.items():
        assert f"## `pargnn {name}`" in text, f"pargnn {name} is missing from docs/cli.md"
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert f"`{flag}`" in text, f"pargnn {name} {flag} is not in docs/cli.md"
