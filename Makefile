# The README's two commands are `make train` and `make test`; .ci/run calls `make test`.
# Everything installs into .venv with the pins of constraints.txt (torch 2.13.0, CPU build here).
# The test install includes the pyg extra: the loader tests compare against torch-geometric.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: train test lint typecheck unit bench-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev,pyg]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev,pyg,viz]'
	touch $@

## Install and train on the built-in synthetic graph.
train: $(VENV)/.installed-dev
	$(BIN)/pargnn train

## Install and run ruff, mypy and the test suite (what CI runs).
test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

## Dependencies of the benchmarks (torch-geometric as the baseline, matplotlib for plots).
bench-deps: $(VENV)/.installed-bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
