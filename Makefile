# Hearth: a fresh clone needs only `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
DEV_SECRETS := data/dev-secrets.toml

.PHONY: run test lint bench soak conformance python clean

# The virtualenv, reinstalled whenever the project's dependencies change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# The hot modules compiled to C by mypyc (scripts/compile.py lists them), rebuilt whenever
# one of their sources changes. Without a C compiler it warns and Hearth runs as Python.
$(COMPILED): $(STAMP) scripts/compile.py $(shell $(PYTHON) -m scripts.compile --sources)
	$(BIN)/python -m scripts.compile
	touch $@

# Create (or migrate) the database, load the catalogues, serve on 127.0.0.1:8000 and :8001.
run: $(COMPILED)
	$(BIN)/python -m scripts.dev_secrets $(DEV_SECRETS)
	$(BIN)/python -m scripts.seed --config $(DEV_SECRETS)
	$(BIN)/python server.py --config $(DEV_SECRETS)

# Every test, then the type and style checks.
test: $(COMPILED)
	$(BIN)/python -m pytest
	$(BIN)/mypy
	$(BIN)/ruff check .

lint: $(STAMP)
	$(BIN)/mypy
	$(BIN)/ruff check .

# The performance record (scripts/bench): Hearth against its peers, as ratios.
bench: $(COMPILED)
	$(BIN)/python -m scripts.bench

# The long reliability runs (scripts/soak), about 40 minutes: crash consistency (>= 25 kill -9
# restarts, >= 1,000 purchases), slow consumers (2 x 60 s), 30 minutes of mixed load.
# One alone, shorter: `.venv/bin/python -m scripts.soak crash|slow|mixed --help`.
soak: $(COMPILED)
	$(BIN)/python -m scripts.soak

# WebSocket conformance (scripts/conformance): Autobahn|Testsuite on both ports, 0 FAILED.
# Needs Python 2.7 (PATH or pyenv); its virtualenv and the reports go in .conformance/.
conformance: $(COMPILED)
	$(BIN)/python -m scripts.conformance

# Every module as Python again (for py-spy, which cannot see into an extension); the
# next `make run`, `make test` or `make bench` compiles them again.
python:
	$(PYTHON) -m scripts.compile --clean
	rm -f $(COMPILED)

clean: python
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
