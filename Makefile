# Every target creates .venv on a fresh machine when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint eval bench bench-bot check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bot

check: $(STAMP)
	$(PY) -m bot check

lint: $(STAMP)
	$(PY) -m ruff check bot tests tools
	$(PY) -m ruff format --check bot tests tools
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q

eval: $(STAMP)
	$(PY) -m bot eval

bench: $(STAMP)
	$(PY) -m bot bench

bench-bot: $(STAMP)
	$(PY) -m tests.bench_bot

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
