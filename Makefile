# Every target creates or updates .venv from pyproject.toml by itself; a stamp file keeps
# re-runs quick when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
DEMO_OUT ?= runs/demo
# MNIST (QuCNN tests and runs) is read from ../shared/data/mnist when that folder exists;
# elsewhere qnnlab looks in its cache or downloads (see qnnlab.data.mnist).
MNIST_DIR := $(abspath ../shared/data/mnist)
ifneq ($(wildcard $(MNIST_DIR)),)
export QNNLAB_MNIST ?= $(MNIST_DIR)
endif

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,cluster]"
	touch $(STAMP)

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,cluster,bench]"
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/python -m qnnlab.demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test: lint
	$(BIN)/python -m pytest -q -n auto

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/first_result.py
	$(BIN)/python benchmarks/qcnn_step.py --qubits 12 --processes 5
	$(BIN)/python benchmarks/qcnn_step.py --qubits 16,20 --processes 1
	$(BIN)/python benchmarks/qcnn_training.py
	$(BIN)/python benchmarks/variance_scan.py
	$(BIN)/python benchmarks/dqnn_training.py
	$(BIN)/python benchmarks/dqnn_variance.py
	$(BIN)/python benchmarks/qucnn_speed.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
