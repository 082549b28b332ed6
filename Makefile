# The two commands: `make demo` and `make test`. Both create .venv when it is
# missing and install exactly what uv.lock pins (re-syncing when pyproject.toml
# or uv.lock changes). The project itself is installed in editable mode there;
# tests/test_packaging.py also installs the built wheel in a fresh venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.polykeras-installed
# uv and setuptools, pinned with their hashes: exported from uv.lock by `make lock`.
BOOTSTRAP := requirements-bootstrap.txt
TOOLS     := $(shell grep -oE '^(uv|setuptools)==[^ ]+' $(BOOTSTRAP))

.PHONY: demo test bench dist lock test-latest test-lowest clean

demo: $(STAMP)
	$(BIN)/polykeras demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# The wheel and the sdist, built offline with the locked setuptools.
dist: $(STAMP)
	rm -rf dist
	$(UV) build --no-build-isolation --out-dir dist

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(BOOTSTRAP)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra test
	touch $@

# Regenerates the lock from pyproject.toml's ranges at today's newest releases.
lock: | $(UV)
	$(UV) lock --upgrade
	$(UV) export --frozen --only-group dev --no-emit-project --output-file $(BOOTSTRAP)

# Both ends of pyproject.toml's ranges, each in a venv of its own, outside the lock:
# the newest releases, and the lowest versions of every direct dependency.
test-latest test-lowest: test-%: | $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) .venv-$*
	$(UV) pip install --python .venv-$*/bin/python --upgrade \
		--resolution $(if $(filter latest,$*),highest,lowest-direct) --editable '.[test]' $(TOOLS)
	$(UV) pip list --python .venv-$*/bin/python | grep -E '^(keras|keras-tuner|tensorflow|tensorboard|numpy) '
	.venv-$*/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-latest .venv-lowest build dist *.egg-info
