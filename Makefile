# Strata: `make run` starts the whole product, `make test` runs every test.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FLASK  := $(BIN)/flask --app app:create_app
HOST   := 127.0.0.1
PORT   := 5000

.PHONY: install run test test-fast bench lint chromium pgbouncer clean screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(FLASK) up --host $(HOST) --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || { \
	  echo "Installing Debian's pgbouncer for the pooled-connection tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq pgbouncer >/dev/null \
	  || echo "pgbouncer could not be installed: the PgBouncer test will be skipped"; }

# Two pytest-xdist workers (one per core), each with its own embedded PostgreSQL and Redis;
# the slowest tests are listed at the end.
test: install chromium pgbouncer
	$(BIN)/python -m pytest -n 2 --durations=25

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not e2e"

bench: install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# PNGs of the main pages at 1366x900 and 390x844 (a seeded tenant on embedded servers) for review.
screenshots: install chromium
	SCREENSHOTS=$(CURDIR)/instance/screenshots $(BIN)/python -m pytest tests/e2e/test_accessibility.py -q -p no:randomly
	@echo "Screenshots in instance/screenshots/"

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
