"""Shared fixtures: the backend (KERAS_BACKEND, TensorFlow by default), a fixed seed, and runners for the CLI."""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# JAX's persistent compilation cache, new for each test session and shared with the processes it starts: the
# suite compiles the same small models again and again (every trial, worker and restart); finding them in the
# cache made test_tuning.py and test_mnist.py 18 % faster on JAX (161 -> 132 s). JAX reads these when imported.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="polykeras-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
else:
    _JAX_CACHE = None

import keras  # noqa: E402
import pytest  # noqa: E402

import polykeras_cli  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


BACKEND = keras.backend.backend()
# The backends polykeras runs on, each a pass of `make test` (the Makefile sets POLYKERAS_TEST_PASS).
BACKENDS = ("tensorflow", "jax", "torch")


def pytest_collection_modifyitems(config, items):
    """Tests that need TensorFlow itself (marked `tensorflow`) run in the TensorFlow pass only; tests that do not
    depend on the backend (marked `any_backend`) run once, in the pass the marker names (TensorFlow unless
    `any_backend("jax")` or `any_backend("torch")`, which balance the passes that `make test` runs two at a
    time)."""
    tensorflow_installed = importlib.util.find_spec("tensorflow") is not None
    for item in items:
        if "without_tensorflow" in item.keywords and tensorflow_installed:
            item.add_marker(pytest.mark.skip(reason="about an install without TensorFlow; runs in the JAX-only pass"))
        if "tensorflow" in item.keywords and BACKEND != "tensorflow":
            item.add_marker(pytest.mark.skip(reason=f"needs TensorFlow itself (this pass: {BACKEND})"))
        once = item.get_closest_marker("any_backend")
        if once is not None:
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


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Runs `polykeras ARGS...` in this process, in tmp_path; returns (code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        code = polykeras_cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def run_python(code, cwd=None, timeout=120):
    """Runs `python -c code` in a fresh interpreter; returns the CompletedProcess."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def popen(*args, cwd):
    """Starts `polykeras ARGS...` in a real process (output unbuffered, stderr in stdout)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "polykeras_cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def alive(pid, cwd=None):
    """Whether `pid` is a live process (zombies count as gone), and, with `cwd`, one working in that folder.

    PIDs are reused (here `pid_max` is 32768, and every thread takes one), so a
    process killed a while ago is best recognised by its folder too.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            running = f.read().split(") ")[1][0] != "Z"
        return running and (cwd is None or os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(cwd))
    except (FileNotFoundError, ProcessLookupError):
        return False


def read_run(folder):
    """{tag: [(step, value), ...]} for every tensor summary in the event files under `folder`, read by TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def decode_image(value):
    """The first image of an image summary's tensor `[width, height, png, ...]`, as a uint8 array."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(value[2])))
