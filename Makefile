# antq — `make run` and `make test` bootstrap .venv themselves; everything else builds on them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: compose-test lock run test test-fast lint typecheck imports contracts bench bench-national reliability fuzz cluster audit tools clean check

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

## Start NATS and the four services (Ctrl-C stops everything). Honours ANTQ_* variables.
run: $(STAMP)
	$(VENV)/bin/antq up

## System tools some tests drive: promtool (Debian's prometheus) and headless chromium.
tools:
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system tools:$$missing (install them with your package manager)"; fi; \
	fi

## The whole suite CI runs: lint, types, import rules, then tests (slow suites have their own targets).
test: $(STAMP) tools lint typecheck imports
	$(PY) -m pytest -m "not slow" -n 2 --dist loadfile -q

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vulture

typecheck: $(STAMP)
	$(VENV)/bin/mypy

imports: $(STAMP)
	$(VENV)/bin/lint-imports

## Write the JSON Schemas of every event to shared/contracts/schemas/ (committed; a test guards compatibility).
contracts: $(STAMP)
	$(PY) -m shared.contracts.jsonschema write

bench: $(STAMP)
	$(PY) -m tests.bench

## A country on PostgreSQL (ANTQ_TEST_POSTGRES_URL): 1M units, 1M tips, 10M notifications; ANTQ_NATIONAL_SCALE=0.1
## for a tenth. Writes build/bench-national.json.
bench-national: $(STAMP)
	@mkdir -p build
	$(PY) -m tests.bench --only national --json build/bench-national.json

reliability: $(STAMP)
	$(PY) -m pytest tests/reliability -m slow -q -p no:randomly

fuzz: $(STAMP)
	ANTQ_FUZZ_EXAMPLES=300 $(PY) -m pytest tests/security -m fuzz -q

## The compose stack really started (root): podman installed and configured where missing, official images or
## local stand-ins built from Debian packages, the antq image from the Dockerfile, then the journey and restarts.
compose-test: $(STAMP)
	bash deploy/compose/standins/podman-setup.sh
	$(PY) -m pytest tests/compose -m slow -q -p no:randomly

cluster: $(STAMP)
	$(PY) -m pytest tests/cluster -m slow -q

audit: $(STAMP)
	$(VENV)/bin/pip-audit --skip-editable

clean:
	rm -rf $(VENV) .antq build *.egg-info

## Re-pin every dependency to what is installed now (commit the result).
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^antq' > requirements.lock
