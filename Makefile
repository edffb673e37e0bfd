# The interface: `make run` and `make test` work on a fresh machine with python3.
PYTHON ?= python3
# Two workers: the suite waits on subprocesses and servers much of the time.
PYTEST_ARGS ?= -n 2
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint migrations-check bench serve migrate static clean screenshots

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.runtime
	$(MANAGE) migrate

static: $(VENV)/.runtime
	$(MANAGE) collectstatic --noinput -v0

run: migrate static
	$(MANAGE) ensure_admin
	@echo "ADT admin on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(MANAGE) runserver $(HOST):$(PORT)

serve: migrate static
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

# ruff, then the import contracts of pyproject.toml (docs/architecture.md).
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

migrations-check: $(VENV)/.runtime
	ADT_HOME=$$(mktemp -d) $(MANAGE) makemigrations --check --dry-run

test: $(VENV)/.dev lint migrations-check
	$(PY) -m pytest $(PYTEST_ARGS)

# PNGs of every page at 1280 and 390 px into docs/screenshots/ (demo data, a
# temporary ADT_HOME, gunicorn and Debian's Chromium; see tools/screenshots.py).
screenshots: $(VENV)/.dev
	$(PY) tools/screenshots.py

# The peers bench/peers.py measures against; never needed by the tests.
$(VENV)/.bench: $(VENV)/.dev requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench
	BENCH=$(BENCH) BENCH_ARGS="$(BENCH_ARGS)" $(PY) bench/run.py

clean:
	rm -rf $(VENV) staticfiles
