# patternbench: `make bench` measures, `make test` checks. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the copy pip installs into this Python (see ensure-uv)
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
POSTGRES ?= auto
RTT_FULL ?= 0,1ms
ARGS ?=

.PHONY: help ensure-uv install bench bench-full bench-pytest test report compare check seed lint format clean docker-image test-docker

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'
	@echo "  variables: POSTGRES=auto|embedded|docker|postgresql://... ARGS='extra patternbench run flags'"

ensure-uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet uv || python3 -m pip install --quiet --user --break-system-packages uv

# Bytecode is compiled at install (also where PYTHONDONTWRITEBYTECODE is set), so a run starts
# without compiling sqlalchemy, numpy or the harness from source (docs/measured.md has the gain).
install: ensure-uv ## install the locked environment (.venv), bytecode compiled
	@$(UV) sync --frozen --quiet --compile-bytecode
	@$(UV) run --frozen --no-sync python -m compileall -q harness scenarios examples >/dev/null

bench: install ## quick profile of every scenario, report in results/<run-id>/
	@$(UV) run --frozen patternbench run --profile quick --postgres $(POSTGRES) $(ARGS)

bench-full: install ## full profile at rtt 0 and 1 ms (RTT_FULL=...; hours on 2 cores)
	@$(UV) run --frozen patternbench run --profile full --rtt $(RTT_FULL) --postgres $(POSTGRES) $(ARGS)

bench-pytest: install ## pytest-benchmark form of reads and loading (first + last grid point), JSON in results/
	@mkdir -p results
	@$(UV) run --frozen pytest benchmarks --benchmark-only --benchmark-json results/pytest-benchmark.json \
		--pb-scenario reads --pb-scenario loading --pb-postgres $(POSTGRES) \
		--benchmark-max-time 0.5 --benchmark-min-rounds 5 $(ARGS)

test: install ## the test suite, against a PostgreSQL it starts itself
	@$(UV) run --frozen pytest

report: install ## rebuild report.md and charts of the latest run (no database needed)
	@$(UV) run --frozen patternbench report latest

check: install ## measure the harness itself: timer resolution and runner overhead
	@$(UV) run --frozen patternbench check --postgres $(POSTGRES)

seed: install ## load the shared dataset with 1,000,000 posts and print how long it took
	@$(UV) run --frozen patternbench seed --posts 1000000 --postgres $(POSTGRES)

lint: install ## ruff lint and format check, mypy over harness/ and scenarios/
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy

format: install ## apply ruff fixes and formatting
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

clean: ## remove the environment and caches (results stay)
	rm -rf .venv .pytest_cache .ruff_cache

compare: install ## B against A with CIs, exit 1 on a regression: make compare A=results/<run> B=results/<run>
	@$(UV) run --frozen patternbench compare $(A) $(B) $(ARGS)

docker-image: install ## build local postgres:18 and postgres:15 images for a machine without a registry (MAJORS=..., FORCE=1)
	@scripts/docker-image.sh $(if $(FORCE),--force) $(MAJORS)

test-docker: install ## the docker tests against a real engine (starts and stops one of its own where none answers; else skips in one line)
	@UV="$(UV)" scripts/test-docker.sh
