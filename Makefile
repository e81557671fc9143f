# The course's commands. `make demo` and `make test` work on a fresh clone: they create .venv/ first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# nbgrader calls its `alembic` script by name: the venv's bin/ must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv sandbox-tool demo test lint test-gpu lab release publish data data-plots clean-demo

help:
	@echo "make demo       release every assignment, grade the demo submissions, print the score table"
	@echo "make test       lint, then run the test suite (what CI runs)"
	@echo "make lint       ruff: lint and format check of the package, tests, tools and benchmarks"
	@echo "make test-gpu   run the grading tests with CUDA required (on the grading machine)"
	@echo "make lab        JupyterLab with nbgrader's formgrader and assignment list, on 127.0.0.1"
	@echo "make release    regenerate release/ from source/"
	@echo "make publish DEST=../homework   write the students' repository into that clone and commit"
	@echo "make data       regenerate the shipped jet sample and the hidden test split"
	@echo "make data-plots plots of the jet data into reports/data/"

# The grading sandbox needs bubblewrap (Debian package); installed here when we are root.
sandbox-tool:
	@command -v bwrap >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q bubblewrap || (apt-get update -q && apt-get install -y -q bubblewrap)) >/dev/null; \
	  else echo "note: install bubblewrap (sudo apt-get install bubblewrap) to grade in the sandbox"; fi; }

PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
# uv installs the same pinned packages (the same `pip freeze`) in about a third of pip's time: it
# downloads and unpacks in parallel. pip installs them where uv cannot be had or fails.
UV_INSTALL := $(VENV)/bin/uv pip install --quiet --native-tls --compile-bytecode --python $(PY)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PIP_INSTALL) uv==0.13.9 2>/dev/null && $(UV_INSTALL) -r requirements.txt; then echo "installed requirements.txt with uv"; \
	  else echo "installing requirements.txt with pip"; $(PIP_INSTALL) -r requirements.txt; fi
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP) sandbox-tool
	$(PY) -m dl4phys demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests tools benchmarks nbgrader_config.py
	$(VENV)/bin/ruff format --check src tests tools benchmarks nbgrader_config.py

test: lint sandbox-tool
	$(PY) -m pytest

test-gpu: $(STAMP) sandbox-tool
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'error: make test-gpu needs a CUDA GPU, and torch sees none (check nvidia-smi and the torch build)')"
	DL4PHYS_REQUIRE_GPU=1 $(PY) -m pytest -m gpu

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root)

release: $(STAMP)
	$(PY) -m dl4phys release

publish: $(STAMP)
	@test -n "$(DEST)" || { echo "error: say where: make publish DEST=../<clone of the students' repository>" >&2; exit 2; }
	$(PY) -m dl4phys publish "$(DEST)"

data: $(STAMP)
	$(PY) -m dl4phys.data generate

data-plots: $(STAMP)
	$(PY) -m dl4phys.data plots --out reports/data

clean-demo:
	rm -rf demo
