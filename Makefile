# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv/ if needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data

.PHONY: setup demo test test-slow test-all bench clean-venv postgresql chromium

setup: $(STAMP)

# Re-installs only when the pins or the package metadata change.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[train,serve,dev,apps,scale]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vehiclekit predict --data-samples --save-annotated demo-output

# The store tests start a real PostgreSQL server (tests/pg_server.py): Debian's package, installed
# with apt when it is missing and we are root; otherwise those tests fail saying how to install it.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends postgresql >/dev/null; } || echo "PostgreSQL is missing: apt-get install postgresql (as root)"

# The review console's tests drive a real browser: Debian's Chromium and ChromeDriver (Selenium).
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends chromium chromium-driver >/dev/null; } || echo "Chromium is missing: apt-get install chromium chromium-driver (as root)"

# `make test`: every test but those marked slow (docs/testing.md lists them: real training runs, servers
# killed or loaded for tens of seconds, torchrun); under 5 minutes on 2 cores. `make test-slow`: those.
# CI runs both (.ci/run); `make test-all` is the same in one pytest session.
PYTEST = $(BIN)/python -m pytest -q
test: $(STAMP) postgresql chromium
	$(PYTEST) -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test-slow: $(STAMP) postgresql chromium
	$(PYTEST) -m slow; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no slow tests"; exit 1; fi; exit $$rc

test-all: $(STAMP) postgresql chromium
	$(PYTEST)

# Mutation testing (docs/testing.md): mutmut 3 over the modules that decide money, labels, detections
# and rankings, one mutant at a time (one core), each against its module's fast tests. Not in `make test`.
.PHONY: mutation
mutation: $(STAMP)
	$(BIN)/python tools/mutation/run.py --report runs/mutation.md

# Benchmarks, not tests: numbers for docs/results.md (see benchmarks/README.md). Run on a quiet machine.
bench: $(STAMP)
	$(BIN)/python benchmarks/classifier_throughput.py
	bash benchmarks/setup_perf_analyzer.sh
	$(BIN)/python benchmarks/perf_analyzer.py
	$(BIN)/python benchmarks/int8_throughput.py
	$(BIN)/python benchmarks/serving_parity.py

clean-venv:
	rm -rf $(VENV)
