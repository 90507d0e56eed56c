# Model Serving Stack: the two commands are `make run` and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
MODELS ?= models
API_PORT ?= 8000
UI_PORT ?= 8501

.PHONY: setup setup-test models run run-api run-ui test lint format bench soak clean

setup:  ## uv and the locked virtual environment
	scripts/setup.sh

setup-test:  ## also the system tools the tests drive (chromium, prometheus, docker, ...)
	scripts/setup.sh --test

models: setup  ## train the example penguin models into $(MODELS)/ when missing
	uv run model-api build-examples --repository $(MODELS)

run: models  ## API on :8000 and UI on :8501; Ctrl-C stops both
	scripts/run.sh $(MODELS) $(API_PORT) $(UI_PORT)

run-api: models  ## the API alone
	MODEL_API_MODEL_REPOSITORY=$(MODELS) uv run model-api serve --port $(API_PORT)

lint: setup  ## ruff, mypy and the import contracts between the API's layers (pyproject.toml)
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy
	uv run lint-imports

format: setup
	uv run ruff format .
	uv run ruff check --fix .

.PHONY: images
images:  ## both container images, model-serving-api:latest and model-serving-ui:latest (docs: operations/images.md)
	scripts/build-images.sh

test: setup-test lint  ## the whole suite: lint, unit, integration, UI, browser, chart, containers
	uv run pytest

soak: setup-test  ## long load run: mixed endpoints, 64 connections, SOAK_SECONDS (default 120)
	SOAK_SECONDS=$${SOAK_SECONDS:-120} uv run pytest tests/reliability/test_load.py -s

bench: setup  ## benchmark vs the HTTP floor, in-process XGBoost and MLServer (bench/results/latest.md)
	uv run python -m bench $(BENCH_ARGS)

# mkdocs' own default port, 8000, is the API's (`make run`), hence another one; any free port
# will do. NO_MKDOCS_2_WARNING silences Material's banner about its successor on every start.
.PHONY: docs
DOCS_PORT ?= 8002
docs: setup  ## the documentation site on http://127.0.0.1:$(DOCS_PORT), rebuilt on every save
	NO_MKDOCS_2_WARNING=1 uv run mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

.PHONY: bench-smoke
bench-smoke: setup  ## a one-minute run of the benchmark harness, as the test suite does
	uv run pytest tests/bench -q

clean:
	rm -rf $(MODELS) .pytest_cache .mypy_cache .ruff_cache

# Local Kubernetes (docs: guides/kubernetes.md): needs docker, kind, kubectl (helm is optional).
.PHONY: kind-up kind-down kind-monitoring
MONITORING ?= 0
kind-up: setup  ## kind cluster with API + UI (localhost:8000, :8501); MONITORING=1 adds Prometheus + Grafana
	MONITORING=$(MONITORING) scripts/kind-up.sh

kind-monitoring: setup  ## kind-up with kube-prometheus-stack (Grafana on localhost:3000)
	MONITORING=1 scripts/kind-up.sh

kind-down:  ## delete the kind cluster
	scripts/kind-down.sh
