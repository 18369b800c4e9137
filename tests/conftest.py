"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

# The offline datasets live beside the checkout (``<repo>/../shared/datasets``); they are
# reference data that the project reads in place and never copies.
SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The shared dataset folder; tests that need it are skipped where it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"the shared datasets folder {SHARED_DATASETS} is absent on this machine")
    return SHARED_DATASETS
