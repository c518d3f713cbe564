# One-command entry points (see README.md). Creates its own virtualenv in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= runs/main
PYTEST_ARGS ?=

.PHONY: setup run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[tfds,test]"
	touch $@

setup: $(VENV)/.installed

# Main job: the synthetic grid task on the embedded default (CPU, a few minutes):
# a plain autoencoder and the Cliff recipe, seed 0, table in $(WORKDIR)/table.md and
# plots in $(WORKDIR)/<method>/seed_0/{latents,marginals}.png.
run: setup
	$(BIN)/python -m experiments.synthetic.sweep --workdir=$(WORKDIR) --methods=ae,cliff \
	  --seeds=0 --set=train.progress=False

# The test suite (what CI runs).
test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check qdjax experiments benchmarks tests
	$(BIN)/ruff format --check qdjax experiments benchmarks tests

clean:
	rm -rf $(VENV) runs
