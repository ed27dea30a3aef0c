# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv itself, from the
# pinned, hashed requirements.lock (`make lock` recompiles it from pyproject.toml).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# The same pins without the test extra, for the container image (Dockerfile).
RUNTIME_LOCK := requirements-runtime.lock
PIP := $(PY) -m pip --disable-pip-version-check
# Only `make lock` needs uv, in a throwaway venv; installing needs nothing but pip.
UV_VERSION ?= 0.13.9
LOCK_TOOL := build/lock-tool

.PHONY: run test lint chaos lock bench bench-quick clean

# The lock includes setuptools (build-system.requires), so the project is built without fetching
# anything the lock does not pin (--no-build-isolation).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m devtools.lockfile check pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m devtools.devstack

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The fault test (docs/operations.md#the-fault-test): CHAOS_ARGS="--cases 50" walks more cases.
chaos: $(STAMP)
	$(PY) -m devtools.chaos $(CHAOS_ARGS)

# Both always run, so one pass shows every finding.
lint: $(STAMP)
	$(VENV)/bin/ruff check --output-format concise; ruff=$$?; $(VENV)/bin/mypy && exit $$ruff

# Recompile the locks after changing dependencies in pyproject.toml. Pins already in the lock are
# kept where they still fit; `make lock LOCK_ARGS=--upgrade` moves everything to the newest. The
# runtime lock is compiled within the full one, so the image runs the versions the tests ran.
lock:
	test -x $(LOCK_TOOL)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOL) && \
		$(LOCK_TOOL)/bin/pip install --quiet uv==$(UV_VERSION); }
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		> build/build-system-requires.in
	$(LOCK_TOOL)/bin/uv pip compile --quiet pyproject.toml build/build-system-requires.in --extra test \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes \
		--custom-compile-command "make lock" $(LOCK_ARGS) --output-file $(LOCK)
	$(LOCK_TOOL)/bin/uv pip compile --quiet pyproject.toml build/build-system-requires.in --constraints $(LOCK) \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes \
		--custom-compile-command "make lock" --output-file $(RUNTIME_LOCK)
	$(PYTHON) -m devtools.lockfile stamp pyproject.toml $(LOCK)
	$(PYTHON) -m devtools.lockfile stamp pyproject.toml $(RUNTIME_LOCK)

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) build *.egg-info
