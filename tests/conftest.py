"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import shutil
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


@pytest.fixture()
def cora_copy(shared_datasets: Path, tmp_path: Path) -> Path:
    """A writable copy of the Cora raw files."""
    dst = tmp_path / "Cora" / "raw"
    shutil.copytree(shared_datasets / "planetoid" / "Cora" / "raw", dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst
