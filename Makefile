# The compendium's DAG: environment -> validate/clean -> analysis stages -> report.
# `make help` lists the targets. Every stage runs through policestress.stages, which
# executes the notebook with papermill and publishes its outputs only when it succeeds.

SITE   ?= y-subbureau-sim
KERNEL := policestress
PYTHON_BASE ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Independent stages run in parallel, one per core; each stage's log is printed in one piece.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
MAKEFLAGS += --jobs=$(JOBS) --output-sync=target

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

CONFIG  := $(shell find config/sites/$(SITE) -type f 2>/dev/null)
RAW     := $(shell find data/raw/$(SITE) -type f 2>/dev/null)
PKG     := $(shell find src/policestress -name '*.py' -o -name '*.html' -o -name '*.css' -o -name '*.csv' 2>/dev/null)
REPORTS := reports/$(SITE)
# Executed notebooks of the analysis stages (each depends on what it reads; see below).
STAGE_NOTEBOOKS := 00_validate_clean.ipynb 01_descriptives.ipynb 02_efa.ipynb 03_cfa.ipynb \
                   04_invariance.ipynb 05_eri.ipynb 06_synthesis.ipynb
RUN     := $(PY) -m policestress.stages run
COMMON  := $(STAMP) $(PKG) $(CONFIG)

ifeq ($(wildcard config/sites/$(SITE)/site.yml),)
  ifeq ($(filter help venv lock lint test clean lab new-site,$(MAKECMDGOALS)),)
    $(error no site configuration config/sites/$(SITE)/site.yml (SITE=$(SITE)); see `ls config/sites`)
  endif
endif


.PHONY: all help venv lock validate descriptives efa cfa invariance eri synthesis report test lint format lab clean simulate verify new-site bench

all: report ## run the whole chain for SITE (sets up .venv first if needed)

help: ## list the targets
	@echo "usage: make TARGET [SITE=name]   (default SITE=$(SITE); sites: $$(ls config/sites | tr '\n' ' '))"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

# ---- environment ------------------------------------------------------------------------
venv: $(STAMP) ## create .venv from requirements.lock, install the package and the Jupyter kernel

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-virtualenv -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (policestress)"
	@touch $@

lock: ## re-resolve requirements.in into requirements.lock and environment.yml
	$(PYTHON_BASE) scripts/make_lock.py

# ---- the chain ----------------------------------------------------------------------------
validate: $(REPORTS)/00_validate_clean.ipynb ## validate the raw export, clean and score it
descriptives: $(REPORTS)/01_descriptives.ipynb ## sample profile, item statistics, reliability, group differences
efa: $(REPORTS)/02_efa.ipynb ## KMO/Bartlett, parallel analysis, EFA and the SPSS-style PCA tables
cfa: $(REPORTS)/03_cfa.ipynb ## competing CFA models with lavaan-matching fit statistics
invariance: $(REPORTS)/04_invariance.ipynb ## multi-group CFA: configural, metric, scalar invariance
eri: $(REPORTS)/05_eri.ipynb ## effort-reward imbalance scoring and prevalence
synthesis: $(REPORTS)/06_synthesis.ipynb ## ranking of stress sources with bootstrap uncertainty
report: $(REPORTS)/07_report.ipynb ## assemble reports/SITE/report.html

$(REPORTS)/00_validate_clean.ipynb: notebooks/00_validate_clean.ipynb $(COMMON) $(RAW)
	$(RUN) validate --site $(SITE) --kernel $(KERNEL)

$(REPORTS)/01_descriptives.ipynb: notebooks/01_descriptives.ipynb $(COMMON) $(REPORTS)/00_validate_clean.ipynb
	$(RUN) descriptives --site $(SITE) --kernel $(KERNEL)

$(REPORTS)/02_efa.ipynb: notebooks/02_efa.ipynb $(COMMON) $(REPORTS)/00_validate_clean.ipynb
	$(RUN) efa --site $(SITE) --kernel $(KERNEL)

$(REPORTS)/03_cfa.ipynb: notebooks/03_cfa.ipynb $(COMMON) $(REPORTS)/00_validate_clean.ipynb $(REPORTS)/02_efa.ipynb
	$(RUN) cfa --site $(SITE) --kernel $(KERNEL)

$(REPORTS)/04_invariance.ipynb: notebooks/04_invariance.ipynb $(COMMON) $(REPORTS)/00_validate_clean.ipynb
	$(RUN) invariance --site $(SITE) --kernel $(KERNEL)

$(REPORTS)/05_eri.ipynb: notebooks/05_eri.ipynb $(COMMON) $(REPORTS)/00_validate_clean.ipynb
	$(RUN) eri --site $(SITE) --kernel $(KERNEL)

$(REPORTS)/06_synthesis.ipynb: notebooks/06_synthesis.ipynb $(COMMON) $(REPORTS)/00_validate_clean.ipynb
	$(RUN) synthesis --site $(SITE) --kernel $(KERNEL)

# The report gathers what every stage published.
$(REPORTS)/07_report.ipynb: notebooks/07_report.ipynb $(COMMON) $(addprefix $(REPORTS)/,$(STAGE_NOTEBOOKS))
	$(RUN) report --site $(SITE) --kernel $(KERNEL)

simulate: $(STAMP) ## redraw a simulated site's raw export from its population model
	$(PY) -m policestress.simulate --site $(SITE)

verify: all ## rerun the chain in a scratch copy; compare every table cell by cell
	$(PY) -m policestress.verify --site $(SITE)

new-site: $(STAMP) ## scaffold config/sites/NAME from a survey export: make new-site NAME=x EXPORT=file
	@test -n "$(NAME)" -a -n "$(EXPORT)" || { echo "usage: make new-site NAME=<site> EXPORT=<export file>"; exit 2; }
	$(PY) -m policestress.scaffold --name $(NAME) --export $(EXPORT)

bench: $(STAMP) ## benchmark the chain (default site cold and no-op, 50,000 simulated respondents)
	$(PY) scripts/bench.py

# ---- development --------------------------------------------------------------------------
test: $(STAMP) ## run the test suite (R cross-checks skip with a reason when R is absent)
	$(PY) -m pytest

lint: $(STAMP) ## ruff lint and format check of the package, tests and notebooks
	$(VENV)/bin/ruff check src tests scripts notebooks
	$(VENV)/bin/ruff format --check src tests scripts notebooks

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix src tests scripts notebooks
	$(VENV)/bin/ruff format src tests scripts notebooks

lab: $(STAMP) ## open JupyterLab with the project kernel
	cd notebooks && ../$(VENV)/bin/jupyter lab

clean: ## remove the outputs of SITE (never data/raw)
	rm -rf build/$(SITE) tables/$(SITE) figures/$(SITE) reports/$(SITE) data/processed/$(SITE)
