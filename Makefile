# Two commands for a fresh machine:  make demo   and   make test
# make test runs the default suite (the slow tests left out: minutes); make check is what CI runs:
# lint (ruff, mypy), the default suite, then the slow tests.
# Both create .venv on first use and install the exact versions in constraints.txt
# (torch==2.13.0 there is the CPU build: no multi-GB CUDA download).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= ocr,dev,bench,remote,server,app,cluster
DEMO_STORE ?= .docagent-demo
QUESTION ?= What is the total amount due on the invoice?

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export ORT_DISABLE_TELEMETRY ?= 1
export ANONYMIZED_TELEMETRY ?= False

.PHONY: setup demo test test-slow test-all lint check bench-ingest clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip check
	touch $@

demo: setup
	$(BIN)/docagent index examples/ --store $(DEMO_STORE)
	$(BIN)/docagent ask "$(QUESTION)" --store $(DEMO_STORE) -k 3 --show-evidence $(DEMO_STORE)/evidence

test: setup
	$(BIN)/python -m pytest -q -n 2

# Two processes share the tests out (pytest-xdist); `.venv/bin/python -m pytest -q` runs the default suite in one.
test-slow: setup
	$(BIN)/python -m pytest -q -m slow -n 2

test-all: setup
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

check: lint test test-slow

bench-ingest: setup
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) $(DEMO_STORE)
