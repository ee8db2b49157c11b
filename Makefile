# One set of targets for people and CI. `make demo` runs the kiosk on the embedded demo,
# `make test` installs everything (the export extra too, and as root the Qt system libraries
# the offscreen tests load) and runs every check; `make test-fast` skips the slow tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast sysdeps lint bench clean

$(VENV)/.runtime: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[export,dev]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/aislelens kiosk --demo --windowed

lint: $(VENV)/.dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Qt's offscreen platform still loads system libraries (EGL, fontconfig, xkbcommon …): list
# what is missing and, as root (CI), apt-get install it.
sysdeps: $(VENV)/.dev
	$(BIN)/python -m kiosk.display --install offscreen
	@# strace: the privacy test traces the kiosk's and the CLI's syscalls (installed as root only)
	@command -v strace >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -q && apt-get install -y -q --no-install-recommends strace)

test: lint sysdeps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

test-fast: lint sysdeps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow"

bench: $(VENV)/.dev
	$(BIN)/python bench/bench_models.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
