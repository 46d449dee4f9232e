# The front door. `make run` starts the platform, `make test` runs the whole suite; both install
# what they need first (scripts/bootstrap.sh).
PY := .venv/bin/python
BIN := .venv/bin

.PHONY: bootstrap images run demo token test test-fast lint fmt bench chaos schemas asyncapi contracts-baseline openapi chart-data dashboard sagas clean

bootstrap:
	@bash scripts/bootstrap.sh

images: bootstrap  # the six images with podman (a debootstrap base, no registry); sizes and times
	$(PY) -m devstack.images $(IMAGES)

run:
	@bash scripts/bootstrap.sh run
	$(PY) -m devstack run

demo:
	$(PY) -m devstack demo

token:  # a development bearer token for `make run`; e.g. make token ARGS="--role guest --subject g-1"
	$(BIN)/bpctl token $(ARGS)

test: bootstrap
	$(PY) -m pytest

test-fast: bootstrap
	$(PY) -m pytest contracts libs services

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/src libs/messaging/src libs/service_kit/src libs/devstack/src \
		services/booking/src services/inventory/src services/pricing/src services/payment/src \
		services/notifier/src examples/analytics/src libs/bpctl/src
	$(BIN)/lint-imports
	bash scripts/deptry.sh
	$(PY) -m devstack.openapi --check
	$(PY) -m devstack.openapi_compat
	$(PY) -m contracts.asyncapi --check
	$(PY) -m devstack.chartdata --check
	$(PY) -m devstack.dashboard --check
	$(PY) -m devstack.alerts --check
	$(PY) -m devstack.sagadocs --check

fmt: bootstrap
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: bootstrap  # the stepped sweep on a platform of its own; BENCH_ARGS="..." to choose (python -m bench -h)
	$(PY) -m bench $(or $(BENCH_ARGS),--start)

chaos: bootstrap  # 10,000 bookings under a nemesis; e.g. make chaos CHAOS_ARGS="--bookings 500"
	$(PY) -m tests.support.chaos $(CHAOS_ARGS)

schemas: bootstrap  # the JSON Schemas of every message and docs/asyncapi.yaml, from contracts/
	$(PY) -m contracts.generate
	$(PY) -m contracts.asyncapi

asyncapi: bootstrap
	$(PY) -m contracts.asyncapi

contracts-baseline: bootstrap  # a release: the current contracts become what later ones must stay compatible with
	$(PY) -m contracts.compat --freeze

openapi: bootstrap  # write docs/api/<service>.openapi.json (lint fails when they are stale)
	$(PY) -m devstack.openapi

openapi-baseline: bootstrap  # a release: the current API documents become what later ones must stay compatible with
	$(PY) -m devstack.openapi_compat --freeze

chart-data: bootstrap  # deploy/helm/booking-platform/files/platform.yaml: topics, consumers, API routes
	$(PY) -m devstack.chartdata

alerts: bootstrap  # deploy/helm/booking-platform/files/prometheus-rules.yaml, from devstack/alerts.py
	$(PY) -m devstack.alerts

dashboard: bootstrap  # deploy/helm/booking-platform/files/grafana-dashboard.json, from devstack/dashboard.py
	$(PY) -m devstack.dashboard

sagas: bootstrap  # docs/sagas.md: every saga drawn from its definition (Mermaid)
	$(PY) -m devstack.sagadocs

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
