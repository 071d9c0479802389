# The compendium's DAG: environment -> validate/clean -> analysis stages -> report.
# `make help` lists the targets. Every stage runs through policestress.stages, which
# executes the notebook with papermill and publishes its outputs only when it succeeds.

SITE   ?= y-subbureau-sim
KERNEL := policestress
PYTHON_BASE ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Independent stages run in parallel, one per core. Output is not held back (no
# --output-sync): each stage's lines carry its name, so progress shows while it runs.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
MAKEFLAGS += --jobs=$(JOBS) --no-print-directory

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

CONFIG  := $(shell find config/sites/$(SITE) -type f 2>/dev/null)
RAW     := $(shell find data/raw/$(SITE) -type f 2>/dev/null)
REPORTS := reports/$(SITE)
# make's dry run (-n) works on copies of the stamps, so it changes nothing.
ifneq ($(findstring n,$(filter-out --%,$(firstword -$(MAKEFLAGS)))),)
  STAMPS := build/.stamps/$(SITE)/dry-run
  ifneq ($(wildcard $(PY)),)
    $(shell $(PY) -m policestress.stages site-fragment --site $(SITE) --stamps $(STAMPS))
  endif
else
  STAMPS := build/.stamps/$(SITE)
endif
RUN     := $(PY) -m policestress.stages run
START   := $(shell date +%s.%N)

# Goals that need the site's settings stamps (the chain); others (help, venv, lint, test)
# must work before the venv exists.
CHAIN_GOALS := all validate descriptives efa cfa invariance eri synthesis report power simulate verify
ifneq ($(filter $(CHAIN_GOALS),$(MAKECMDGOALS)),)
  ifeq ($(wildcard config/sites/$(SITE)/site.yml),)
    $(error no site configuration config/sites/$(SITE)/site.yml (SITE=$(SITE)); see `ls config/sites`)
  endif
  # One stamp per stage holding what it reads of the site's configuration, rewritten only
  # when that changes; site.mk names the simulated export.
  include $(STAMPS)/site.mk
endif
# The stage rules, generated from policestress.stages.STAGES (the one list of stages).
include build/stages.mk

build/stages.mk: src/policestress/stages.py $(wildcard notebooks/*.ipynb) $(shell find src/policestress -name '*.py')
	@mkdir -p $(@D)
	@PYTHONPATH=src $(PYTHON_BASE) -m policestress.stages makefile > $@.tmp && mv $@.tmp $@

$(STAMPS)/site.mk: $(CONFIG) src/policestress/stages.py | $(STAMP)
	@$(PY) -m policestress.stages site-fragment --site $(SITE) --stamps $(STAMPS)

$(STAMPS)/%.settings: ;

.PHONY: all help venv lock test lint format lab clean simulate verify new-site bench

all: report ## run the whole chain for SITE (sets up .venv first if needed)
	@awk -v end="$$(date +%s.%N)" 'BEGIN {printf "chain done for $(SITE): $(REPORTS)/report.html (%.1f s)\n", end - $(START)}'

help: ## list the targets
	@echo "usage: make TARGET [SITE=name]   (default SITE=$(SITE); sites: $$(ls config/sites | tr '\n' ' '))"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

# ---- environment ------------------------------------------------------------------------
venv: $(STAMP) ## create .venv from requirements.lock, install the package and the Jupyter kernel

# pip prints a line per package (no progress bars), so the install is never silent for long.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off --require-virtualenv -r requirements.lock \
	  | { grep -v '^Requirement already satisfied' || true; }
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (policestress)"
	@touch $@

lock: ## re-resolve requirements.in into requirements.lock and environment.yml
	$(PYTHON_BASE) scripts/make_lock.py

# ---- the chain ----------------------------------------------------------------------------
# Each stage's rule (build/stages.mk) depends on its notebook, the package modules it
# imports, its settings stamp and the stages it reads; see `python -m policestress.stages list`.

simulate: $(STAMP) ## redraw a simulated site's raw export from its population model
	$(PY) -m policestress.simulate --site $(SITE)

verify: all ## rerun the chain in a scratch copy; compare every table cell by cell
	$(PY) -m policestress.verify --site $(SITE)

new-site: $(STAMP) ## scaffold config/sites/NAME from a survey export: make new-site NAME=x EXPORT=file
	@test -n "$(NAME)" -a -n "$(EXPORT)" || { echo "usage: make new-site NAME=<site> EXPORT=<export file>"; exit 2; }
	$(PY) -m policestress.scaffold --name $(NAME) --export $(EXPORT)

BENCH_ARGS ?=
bench: $(STAMP) ## benchmark the chain (default site cold and no-op, 50,000 simulated respondents), the power study and the ordinal estimators (BENCH_ARGS=--power-only: the power study only)
	$(PY) scripts/bench.py $(BENCH_ARGS)
	$(if $(filter --power-only,$(BENCH_ARGS)),,$(PY) scripts/bench_ordinal.py)

# ---- development --------------------------------------------------------------------------
test: $(STAMP) ## run the test suite on every core, a test file per worker (R cross-checks skip with a reason when R is absent)
	$(PY) -m pytest -n $(JOBS) --dist loadfile

lint: $(STAMP) ## ruff lint and format check of the package, tests and notebooks
	$(VENV)/bin/ruff check src tests scripts notebooks
	$(VENV)/bin/ruff format --check src tests scripts notebooks

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix src tests scripts notebooks
	$(VENV)/bin/ruff format src tests scripts notebooks

# JupyterLab at the project root (tables, figures and the report open from it), no browser;
# as root it needs --allow-root. Interactive runs write to scratch/<site>/ (see README).
LAB_PORT ?= 8888
LAB_ARGS ?=
lab: $(STAMP) ## open JupyterLab at the project root with the project kernel (LAB_PORT, LAB_ARGS)
	$(VENV)/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --port=$(LAB_PORT) \
	  --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

clean: ## remove the outputs of SITE (never data/raw)
	rm -rf build/$(SITE) build/.cache/$(SITE) tables/$(SITE) figures/$(SITE) reports/$(SITE) data/processed/$(SITE) scratch/$(SITE)
