# make run   - set up .venv, migrate the database, run the daemon on the defaults (or $OPTOUT_CONFIG)
# make test  - set up .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test venv migrate bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(BIN)/optout-daemon db upgrade

run: migrate
	$(BIN)/optout-daemon run

test: $(STAMP)
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/smtp_load.py

clean:
	rm -rf $(VENV) var .pytest_cache
