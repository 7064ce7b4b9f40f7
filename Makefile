# The commands people use. Everything runs from a local virtualenv (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.installed

.PHONY: install test soak lint format bench demo support-demo clean

install: $(READY)

$(READY): requirements.txt requirements-dev.txt
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  echo "error: $(PYTHON) cannot create virtualenvs; install it (Debian: apt-get install python3-venv)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .  # the cohabs-relink command
	@touch $@

# The real dumps' tests run on the dumps `make demo` finds (or COHABS_DUMP, COHABS_SUPPORT_DUMP); else skipped.
test: $(READY)
	$(BIN)/python -m pytest

soak: $(READY)
	SOAK_KILLS=$${SOAK_KILLS:-60} $(BIN)/python -m pytest -s tests/test_sync_soak.py

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(READY)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(READY)
	$(BIN)/python -m tools.bench $(ARGS)

demo: $(READY)
	$(BIN)/python -m tools.demo $(ARGS)

support-demo: $(READY)
	$(BIN)/python -m tools.support_demo $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache reports
