# One-command entry points (see README.md). Creates its own virtualenv in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= runs/main
PYTEST_ARGS ?=

.PHONY: setup run test test-all lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[tfds,test]"
	touch $@

setup: $(VENV)/.installed

# Main job: a fair comparison on the synthetic grid task (CPU, a few minutes): a plain
# autoencoder, IOSS and Cliff on 3 evaluation seeds never used for tuning (100-102), 1500
# steps, with the weights the protocol chose on tuning seeds 0-1
# (experiments/synthetic/results/protocol.md); MCC and cell accuracy (mean ± std, paired
# difference to the best baseline with a bootstrap CI) in $(WORKDIR)/protocol.md.
run: setup
	$(BIN)/python -m experiments.synthetic.protocol --workdir=$(WORKDIR) \
	  --config.settings=2d --config.methods=ae,ioss,cliff --config.evaluation_seeds=100-102 \
	  --config.fixed_weights=ioss=0.03,cliff=0.03 --config.train.num_steps=1500

# The test suite (what CI runs): everything but the tests marked slow, whose small
# versions run here. `make test-all` runs the slow ones too (QDJAX_SLOW=1 for the
# full-size image models of the method registry). Tests run in TEST_WORKERS processes
# (pytest-xdist; 2 fits CI's 2 cores: ~10 min there, ~20 min in one process).
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

test-all: setup
	QDJAX_SLOW=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check qdjax experiments benchmarks tests
	$(BIN)/ruff format --check qdjax experiments benchmarks tests

clean:
	rm -rf $(VENV) runs
