"""The CLI reference documents every option the parser accepts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pargnn.config import TrainConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_train_option_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    for field in dataclasses.fields(TrainConfig):
        prefix = "--no-" if field.default is True else "--"
        flag = prefix + field.name.replace("_", "-")
        assert f"| `{flag}` |" in text, f"{flag} is missing from docs/cli.md"
