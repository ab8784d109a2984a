# frtrain — the two commands the README promises, plus a few helpers.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# Postgres used by the database test suite (both SQLite and Postgres run in `make test`).
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export TEST_POSTGRES_URL

.PHONY: all install test test-fast test-env test-env-fast lint typecheck imports pytest pytest-fast demo clean

all: test

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: a CPU build of this exact version ships with the machine image;
	# any looser spec would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check app trainer tests benchmarks migrations
	$(VENV)/bin/ruff format --check app trainer tests benchmarks migrations

typecheck: $(STAMP)
	$(VENV)/bin/mypy

imports: $(STAMP)
	$(VENV)/bin/lint-imports

# Before any test: Chromium (installed with apt when missing and possible) and Postgres.
test-env: $(STAMP)
	scripts/test-env $(PY)

test-env-fast: $(STAMP)
	scripts/test-env --no-browser $(PY)

# One BLAS/OpenMP thread per xdist worker: 2 workers on 2 cores, no oversubscription.
PYTEST := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadgroup

pytest: $(STAMP)
	$(PYTEST)

pytest-fast: $(STAMP)
	$(PYTEST) -m "not slow and not browser"

# The whole suite (what CI runs). Sets itself up: venv, Chromium, then checks Postgres.
test: test-env lint typecheck imports pytest

# Minutes less: no slow tests, no browser (Chromium not needed).
test-fast: test-env-fast lint typecheck imports pytest-fast

demo: $(STAMP)
	$(VENV)/bin/frtrain demo --json demo-out/demo.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-out
