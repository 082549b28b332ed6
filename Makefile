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

# The suite on TensorFlow (the default) and again on JAX, the two passes side by side on the
# two cores (the JAX pass's log is printed after the TensorFlow pass's). Tests marked
# `tensorflow` or `any_backend` run in the TensorFlow pass only.
test: $(STAMP)
	@$(call both-backends,$(BIN)/python)

define both-backends
	KERAS_BACKEND=jax $(1) -m pytest $(PYTEST_ARGS) > $(VENV)/jax-pass.log 2>&1 & jax=$$!; \
	KERAS_BACKEND=tensorflow $(1) -m pytest $(PYTEST_ARGS); tf=$$?; \
	wait $$jax; jx=$$?; echo "== the JAX pass"; cat $(VENV)/jax-pass.log; \
	echo "tensorflow pass: exit $$tf; jax pass: exit $$jx"; test $$tf -eq 0 -a $$jx -eq 0
endef

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
	$(UV) sync --locked --extra test --extra jax
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
		--resolution $(if $(filter latest,$*),highest,lowest-direct) --editable '.[test,jax]' $(TOOLS)
	$(UV) pip list --python .venv-$*/bin/python | grep -E '^(keras|keras-tuner|tensorflow|tensorboard|numpy|jax) '
	@$(call both-backends,.venv-$*/bin/python)

clean:
	rm -rf $(VENV) .venv-latest .venv-lowest build dist *.egg-info
