# The two commands a newcomer needs:  make demo  and  make test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
export CONTAINERS_CONF := $(CURDIR)/ci/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
TRACKER_DIST := tracker/dist/clickstream.min.js
TRACKER_SOURCES := $(wildcard tracker/src/*.ts) tracker/build.mjs tracker/tsconfig.json tracker/package-lock.json

.PHONY: help test bootstrap lint tracker tracker-test pytest molecule demo demo-down bench lock clean package

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

test: bootstrap lint tracker-test pytest molecule ## install what is missing, then lint, the tracker's tests, pytest and every molecule scenario
	@echo "make test: all passed"

bootstrap: ## Debian packages, .venv/, checkov's venv and the test-host image (each skipped when current)
	@scripts/bootstrap.sh

lint: bootstrap ## ruff, yamllint, ansible-lint (production profile)
	@echo "==> ruff";         $(VENV)/bin/ruff check .
	@echo "==> yamllint";     $(VENV)/bin/yamllint -s .
	@echo "==> ansible-lint"; $(VENV)/bin/ansible-lint -q

tracker: bootstrap $(TRACKER_DIST) ## build the browser tracker into tracker/dist/ (when its sources changed)

$(TRACKER_DIST): $(TRACKER_SOURCES)
	@echo "==> tracker"; cd tracker && npm run --silent build

tracker-test: bootstrap ## build the tracker and run its unit tests (node --test)
	@echo "==> tracker unit tests"; cd tracker && npm test --silent

pytest: bootstrap tracker ## the Python test suite (real PostgreSQL, moto for AWS APIs, headless Chromium)
	@echo "==> pytest"; $(PY) -m pytest $(PYTEST_ARGS)

molecule: bootstrap ## every role's molecule scenario on the local Debian 12 systemd image
	@scripts/molecule-all.sh $(SCENARIOS)

demo: bootstrap ## run the platform locally
	@scripts/demo.sh up

demo-down: ## remove everything `make demo` started
	@scripts/demo.sh down

bench: bootstrap ## the benchmarks in bench/ (not part of make test)
	@for b in bench/*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

package: bootstrap ## the two Lambda zips in build/ for the Lambda platform (ARCH=x86_64|arm64)
	@scripts/package-lambdas.sh $(ARCH)

lock: ## re-pin requirements/dev.txt and checkov.txt from the .in files
	@scripts/lock.sh

clean: ## remove build outputs (not the venv or the image)
	rm -rf build test-artifacts .pytest_cache .ruff_cache tracker/dist tracker/build
