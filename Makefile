# The two commands a new user needs: `make demo` (install, then run the pipeline with demo traffic)
# and `make test` (install, then lint, type-check and run every test against the real stack).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install install-dev install-peer demo test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

# --no-compile: pip's byte-compiling of every installed module took 50 of its 78 s on 2 cores; the test run
# below compiles only what it imports, once, as it goes.
install-dev: $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e '.[dev]'

demo: install
	$(BIN)/teppan up --demo

# pytest runs in two lanes, one per core (README, Tests); a plain `$(BIN)/pytest` runs the same tests serially.
# Bytecode is written even where the environment says not to, or every process of the run would compile its
# imports anew.
test: install-dev
	@command -v chromium >/dev/null 2>&1 || echo "Chromium is missing, so the browser tests will be skipped; install it with: sudo apt-get install chromium"
	$(BIN)/ruff check .
	$(BIN)/mypy
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n 2 --lanes

install-peer: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[peer]'

# The NLP benchmark's naive peer needs spaCy and sentence-transformers (the `peer` extra).
bench: install-peer
	$(BIN)/teppan bench pipeline --messages 20000 --json
	$(BIN)/teppan bench nlp --json
