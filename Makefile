PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.dev-installed
BENCHSTAMP := $(VENV)/.bench-installed

.PHONY: demo test install bench bench-tempo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(BENCHSTAMP): $(DEVSTAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/underdog analyze examples/library

test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q

bench-tempo: $(BENCHSTAMP)
	$(BIN)/python bench/tempo.py

clean:
	rm -rf $(VENV) demo-out
