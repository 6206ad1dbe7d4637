# `make run` and `make test` are all a fresh clone needs; each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: help setup run test ui repro metrics plots bench gpu-check results-page docs docs-serve lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: pip then takes the local CPU wheel instead of a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

setup: $(STAMP) ## create .venv and install the pinned dependencies

run: $(STAMP) ## run the whole pipeline on params.yaml (temporary Prefect server, SQLite MLflow, local DVC cache)
	$(BIN)/rnnops run

# Test files in parallel, one worker per core (tests/conftest.py gives each worker its own cores);
# whole files go to one worker so a module's trained fixture is built once. TEST_WORKERS=0: serial.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
test: $(STAMP) ## run the test suite (real Prefect, MLflow, DVC and Lightning on tiny profiles)
	$(BIN)/python -m pytest -q --durations=25 -n $(TEST_WORKERS) --dist loadfile

ui: $(STAMP) ## MLflow UI on http://127.0.0.1:5000
	$(BIN)/rnnops ui

repro: $(STAMP) ## write dvc.yaml from the plug-ins, then dvc repro with this venv's python (no Prefect)
	$(BIN)/rnnops dvc-yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

metrics: $(STAMP) ## `dvc metrics show` with 4 significant digits (DVC's own rounds cosine's RMSE to 0.0)
	$(BIN)/rnnops metrics

plots: $(STAMP) ## `dvc plots show` of the charts that have data -> dvc_plots/index.html, drawn offline (no CDN)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/rnnops plots

bench: $(STAMP) ## training-loop throughput: ours vs a bare PyTorch loop (JSON)
	$(BIN)/python benchmarks/train_throughput.py

gpu-check: ## what this machine's GPUs do for rnnops, one bounded call (JSON; needs only python + torch)
	bash benchmarks/gpu_check.sh

results-page: $(STAMP) ## rewrite docs/results.md (the figures README.md and docs/ quote) from metrics/ and benchmarks/results/
	$(BIN)/python benchmarks/results_page.py

docs: $(STAMP) ## the documentation site: mkdocs build --strict into site/ (a broken link fails)
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP) ## the documentation site on http://127.0.0.1:8000, rebuilt on every edit (loopback only)
	$(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

lint: $(STAMP) ## ruff
	$(BIN)/ruff check models flows tests benchmarks

clean: ## remove pipeline outputs (not .venv, not the DVC cache)
	rm -rf data/raw data/windows data/models metrics plots reports dvc_plots site
