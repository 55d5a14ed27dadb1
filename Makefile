# Every target creates .venv on a fresh machine when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Exact versions with hashes, made by `make lock` from pyproject.toml's ranges: runtime (also
# the Docker image's), dev (runtime plus the test tools) and the build backend.
LOCKS := requirements.lock requirements-dev.lock requirements-build.lock

.PHONY: run test lint eval bench bench-bot check clean lock docker-build docker-test docker-base

# The project itself goes in with the locked build backend (--no-build-isolation), so that no
# unpinned download takes part.
$(STAMP): pyproject.toml $(LOCKS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock -r requirements-build.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build/lock-tools

# --- lock files ---------------------------------------------------------------------------
LOCK_TOOLS := build/lock-tools
PIP_TOOLS_VERSION := 7.6.2
LOCK_INDEX_URL ?= https://pypi.org/simple
# `make lock` moves every pin to the newest release within pyproject.toml's ranges;
# `make lock LOCK_UPGRADE=` only adds what pyproject.toml gained and keeps the other pins.
LOCK_UPGRADE ?= --upgrade
# Resolved against LOCK_INDEX_URL alone: local wheel folders or extra indexes in this
# machine's pip configuration must not end up in the pins and hashes.
PIP_COMPILE = env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL \
	PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
	$(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --index-url $(LOCK_INDEX_URL) $(LOCK_UPGRADE)

# The dev lock is constrained to the runtime pins, so the tests run on what the image ships.
lock:
	test -x $(LOCK_TOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_TOOLS) \
		&& $(LOCK_TOOLS)/bin/pip install --quiet pip-tools==$(PIP_TOOLS_VERSION); }
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) --only-build-deps --all-build-deps -o requirements-build.lock pyproject.toml

# --- Docker -------------------------------------------------------------------------------
IMAGE ?= talks-bot
# `auto`: python:3.11-slim if the engine has it, else a Debian base made here (docker/).
DOCKER_BASE ?= auto

docker-base:
	bash docker/make-base-image.sh

docker-build:
	bash docker/build-image.sh $(IMAGE) $(DOCKER_BASE)

# Builds $(IMAGE):test and checks it against the fake Bot API (tests/docker/check_image.py).
docker-test:
	bash docker/build-image.sh $(IMAGE):test $(DOCKER_BASE)
	$(PYTHON) -m tests.docker.check_image $(IMAGE):test
