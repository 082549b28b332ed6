"""The suite's set-up: the backend of the pass (`KERAS_BACKEND`, which the Makefile sets for each pass but the
JAX-only one, where polykeras picks the one installed), which tests run in it, a fixed seed, and the `cli` fixture.
What tests share beside fixtures is in `helpers.py`."""

import importlib.util
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# JAX's persistent compilation cache, new for each test session and shared with the processes it starts: the
# suite compiles the same small models again and again (every trial, worker and restart), and finds them there.
# JAX reads these when it is imported.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="polykeras-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
else:
    _JAX_CACHE = None

import polykeras  # noqa: F401 (first: it chooses the backend before Keras is imported, as a user's process does)

# isort: split
import pytest
from helpers import BACKEND, BACKENDS

import polykeras_cli


def pytest_collection_modifyitems(config, items):
    """Tests that need TensorFlow itself (marked `tensorflow`) run in the TensorFlow pass only; tests that do not
    depend on the backend (marked `any_backend`) run once, in the pass the marker names (TensorFlow unless
    `any_backend("jax")` or `any_backend("torch")`, which balance the passes that `make test` runs two at a
    time). Outside `make test`'s passes (no POLYKERAS_TEST_PASS: pytest run by hand, `make mutate`), they run on
    whatever backend this is."""
    tensorflow_installed = importlib.util.find_spec("tensorflow") is not None
    for item in items:
        if "without_tensorflow" in item.keywords and tensorflow_installed:
            item.add_marker(pytest.mark.skip(reason="about an install without TensorFlow; runs in the JAX-only pass"))
        if "tensorflow" in item.keywords and BACKEND != "tensorflow":
            item.add_marker(pytest.mark.skip(reason=f"needs TensorFlow itself (this pass: {BACKEND})"))
        once = item.get_closest_marker("any_backend")
        if "quickstart" in item.keywords and not tensorflow_installed:
            continue  # the README's Quickstart runs where JAX alone is installed too
        if once is not None and os.environ.get("POLYKERAS_TEST_PASS"):
            chosen = once.args[0] if once.args else "tensorflow"
            assert chosen in BACKENDS, f"{item.nodeid}: any_backend({chosen!r}) names no pass"
            if BACKEND != chosen:
                item.add_marker(pytest.mark.skip(reason=f"does not depend on the backend; runs in the {chosen} pass"))


def pytest_sessionfinish(session, exitstatus):
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def seed():
    from polykeras import backend

    backend.set_random_seed(0)


@pytest.fixture(autouse=True)
def processes_on_jax(request, monkeypatch):
    """The processes that a test marked `any_backend` starts run on JAX, whichever pass runs the test: what it
    tests does not depend on the backend, and a fresh process starts quickest on JAX (importing polykeras takes
    11 s of CPU here, against 13 s on PyTorch and 17 s on TensorFlow). Tests that name a backend for a process
    name it in that process's environment."""
    if request.node.get_closest_marker("any_backend") and importlib.util.find_spec("jax") is not None:
        monkeypatch.setenv("KERAS_BACKEND", "jax")


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Runs `polykeras ARGS...` in this process, in tmp_path; returns (code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        code = polykeras_cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
