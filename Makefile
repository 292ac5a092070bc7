# Petrosa Data Manager — developer commands. Everything runs through uv (one workspace, one lock).
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen

.PHONY: help sync ferretdb infra-up infra-down test test-fast lint format dev bench helm-check clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

sync: ## Create/refresh .venv from uv.lock (all packages + dev tools)
	$(UV) sync --frozen

ferretdb: .run/bin/ferretdb ## Build the FerretDB launcher into .run/bin (needs Go; rebuilt when tools/ferretdb changes)

.run/bin/ferretdb: $(wildcard tools/ferretdb/*.go tools/ferretdb/go.mod tools/ferretdb/go.sum)
	@mkdir -p .run/bin
	cd tools/ferretdb && GOFLAGS=-buildvcs=false go build -o ../../.run/bin/ferretdb .

infra-up: sync ferretdb ## Start (or reuse) NATS, PostgreSQL, FerretDB; write .run/infra.env
	$(RUN) petrosa-infra up

infra-down: ## Stop what infra-up started
	$(RUN) petrosa-infra down

lint: sync ## ruff check, ruff format --check, mypy (strict)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: sync ## Apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: infra-up lint ## Everything: lint, then the whole test suite on real servers
	$(RUN) pytest

test-fast: infra-up ## The test suite without lint
	$(RUN) pytest

dev: infra-up ## The whole system without Docker: infra, services, simulator (Ctrl-C stops)
	$(RUN) honcho -f Procfile.dev -e .run/infra.env start

bench: infra-up ## Benchmarks (print figures, write bench/results/{ingest,api,audit,backfill,analytics,schemas,ferretdb_handlers,soak}.json; soak: 10 min of make dev)
	$(RUN) python -m bench.ingest
	$(RUN) python -m bench.api
	$(RUN) python -m bench.audit
	$(RUN) python -m bench.backfill
	$(RUN) python -m bench.analytics
	$(RUN) python -m bench.schemas
	$(RUN) python -m bench.ferretdb_handlers
	$(RUN) python -m bench.soak

helm-check: ## Lint and render every Helm chart (needs helm)
	deploy/helm/check.sh

clean: infra-down ## Stop infra and delete .run/ (all local data)
	rm -rf .run
