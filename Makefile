# The two commands: `make demo` and `make test`. Both create what they need when it is missing and install
# exactly what uv.lock pins (re-syncing when pyproject.toml or uv.lock changes):
#   .venv      polykeras with all three Keras backends, TensorFlow (the default), JAX and PyTorch: `make demo`,
#              and the TensorFlow, JAX and PyTorch passes of `make test`;
#   .venv-jax  polykeras[jax] alone, with no TensorFlow and no PyTorch installed: the JAX-only pass.
# The project itself is installed in editable mode in both; tests/test_packaging.py also installs the built
# wheel in a fresh venv.
PYTHON ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
UV       := $(BIN)/uv
STAMP    := $(VENV)/.polykeras-installed
JAX_VENV := .venv-jax
JAX_STAMP := $(JAX_VENV)/.polykeras-installed
# uv and setuptools, pinned with their hashes: exported from uv.lock by `make lock`.
BOOTSTRAP := requirements-bootstrap.txt
TOOLS     := $(shell grep -oE '^(uv|setuptools)==[^ ]+' $(BOOTSTRAP))
# PyTorch comes from pip, at the version uv.lock pins, with its dependencies at the lock's versions: pip finds
# the CPU build (about 200 MB) that lies on the disk of the machines this is tested on (pip's find-links), where
# uv would download the CUDA build from PyPI (about 3 GB). Elsewhere pip takes PyPI's build of the same version.
TORCH_CONSTRAINTS := $(VENV)/torch-constraints.txt

.PHONY: demo test lint bench dist lock mutate test-latest test-lowest clean pass-tensorflow pass-jax pass-torch pass-jax-only

demo: $(STAMP)
	$(BIN)/polykeras demo

# The suite once per backend, and the tests marked `without_tensorflow` where JAX alone is installed: two passes
# at a time on the two cores, each printing its log when it ends. Tests marked `tensorflow` run in the
# TensorFlow pass only, and `any_backend` ones in the pass they name. The longest pass, PyTorch's, starts first,
# beside TensorFlow's; JAX's follows TensorFlow's, and the short JAX-only pass follows PyTorch's.
test: lint $(JAX_STAMP)
	@rm -f $(PASS_TIMES); start=$$(date +%s); $(MAKE) --no-print-directory -k -j2 --output-sync=target \
		pass-torch pass-tensorflow pass-jax pass-jax-only; \
	code=$$?; echo "make test: $$(( $$(date +%s) - start )) s for the four passes, exit $$code"; \
	cat $(PASS_TIMES) 2>/dev/null; exit $$code

# ruff, the linter and formatter (its rules and line length in pyproject.toml): a violation fails `make test` first.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One thread of math each, as two passes share the two cores: PyTorch's own threads, spinning while they wait,
# took 40 % more CPU for the same tests (the default recipe's: 201 -> 127 CPU seconds).
ONE_THREAD := OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1

# Each pass says how long it took, in make test's summary (PASS_TIMES).
PASS_TIMES := .pass-times
pass-tensorflow pass-jax pass-torch: pass-%: $(STAMP)
	@echo "== the $* pass (all three backends installed)"
	@start=$$(date +%s); $(ONE_THREAD) KERAS_BACKEND=$* POLYKERAS_TEST_PASS=$* $(BIN)/python -m pytest $(PYTEST_ARGS); \
	code=$$?; echo "  the $* pass: $$(( $$(date +%s) - start )) s, exit $$code" >> $(PASS_TIMES); exit $$code

# Where JAX alone is installed, as a user's `pip install ".[jax]"` leaves it, with no backend named: the tests of
# such an install, the README's Quickstart among them.
pass-jax-only: $(JAX_STAMP)
	@echo "== the JAX-only pass (polykeras[jax] alone: no TensorFlow, no PyTorch, no backend named)"
	@start=$$(date +%s); env -u KERAS_BACKEND $(ONE_THREAD) POLYKERAS_TEST_PASS=jax-only $(JAX_VENV)/bin/python -m pytest \
		-m "without_tensorflow or quickstart" $(PYTEST_ARGS) tests; \
	code=$$?; echo "  the JAX-only pass: $$(( $$(date +%s) - start )) s, exit $$code" >> $(PASS_TIMES); exit $$code

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# The wheel and the sdist, built offline with the locked setuptools.
dist: $(STAMP)
	rm -rf dist
	$(UV) build --no-build-isolation --out-dir dist

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(BOOTSTRAP)

# --inexact: the sync leaves PyTorch, installed by pip, in place.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --inexact --extra tensorflow --extra jax --extra test
	$(UV) export --frozen --quiet --no-dev --no-emit-project --no-hashes --extra torch --output-file $(TORCH_CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(TORCH_CONSTRAINTS) \
		"$$(grep -oE '^torch==[^ ]+' $(TORCH_CONSTRAINTS))"
	touch $@

$(JAX_STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(JAX_VENV) $(UV) sync --locked --python $(PYTHON) --extra jax --extra test
	touch $@

# Regenerates the lock from pyproject.toml's ranges at today's newest releases.
lock: | $(UV)
	$(UV) lock --upgrade
	$(UV) export --frozen --only-group dev --no-emit-project --output-file $(BOOTSTRAP)

# Both ends of pyproject.toml's ranges, each in a venv of its own with all three backends, outside the lock:
# the newest releases, and the lowest versions of every direct dependency (PyTorch through pip, as above: its
# floor, or the newest pip finds).
test-latest test-lowest: test-%: | $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) --seed .venv-$*
	$(UV) pip install --python .venv-$*/bin/python --upgrade \
		--resolution $(if $(filter latest,$*),highest,lowest-direct) --editable '.[test,tensorflow,jax]' $(TOOLS)
	.venv-$*/bin/python -m pip install --quiet --upgrade \
		"torch$(if $(filter latest,$*),>=,==)$$(grep -oE 'torch>=[0-9.]+' pyproject.toml | cut -d= -f2)"
	$(UV) pip list --python .venv-$*/bin/python | grep -E '^(keras|keras-tuner|tensorflow|tensorboard|numpy|jax|torch) '
	@for b in tensorflow jax torch; do \
		KERAS_BACKEND=$$b POLYKERAS_TEST_PASS=$$b .venv-$*/bin/python -m pytest $(PYTEST_ARGS) || exit 1; done

# Mutation testing (mutmut) of the modules whose logic needs no training, each against its own tests; outside
# `make test`. Prints the share of mutants each module's tests kill.
MUTATE_TOOLS := $(VENV)/.mutmut-installed
$(MUTATE_TOOLS): pyproject.toml uv.lock | $(STAMP)
	$(UV) sync --locked --inexact --extra tensorflow --extra jax --extra test --group mutate
	touch $@

mutate: $(MUTATE_TOOLS)
	KERAS_BACKEND=jax $(BIN)/python benchmarks/mutation_score.py $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) $(JAX_VENV) .venv-latest .venv-lowest build dist *.egg-info mutants $(PASS_TIMES)
