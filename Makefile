# Two entry points from the README: `make run` launches tui-vae, `make test`
# runs the test suite. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-long lint bench clean

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	    echo "tui-vae needs Python 3.11 or newer; name one with PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tui-vae

# One worker a core, a file at a time to each (its module fixtures built once).
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

# The longest fault and end-to-end tests (tests/conftest.py, LONG_TESTS); CI runs both.
test-long: $(STAMP)
	$(BIN)/python -m pytest -m long -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check tui_vae tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py

clean:
	rm -rf $(VENV) build dist *.egg-info
