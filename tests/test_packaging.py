"""The package as users install it: the built wheel and sdist, and the wheel installed in a fresh venv."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest
from helpers import REPO

# What the package reads at run time besides its modules.
DATA_FILES = ["polykeras/resources/MNIST_SAMPLE.md", "polykeras/resources/mnist_sample.npz"]

pytestmark = pytest.mark.any_backend


def _uv():
    uv = os.path.join(sys.prefix, "bin", "uv")  # uv.lock's dev group puts uv beside the interpreter
    if not os.path.exists(uv):
        uv = shutil.which("uv")
    assert uv, "uv is not installed in this environment (make installs it from uv.lock)"
    return uv


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """`make dist`'s build: the sdist, then the wheel built from it, with the locked setuptools."""
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    subprocess.run(
        [_uv(), "build", "--no-build-isolation", "--quiet", "--out-dir", str(out), REPO],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    (wheel,) = glob.glob(str(out / "polykeras-*.whl"))
    (sdist,) = glob.glob(str(out / "polykeras-*.tar.gz"))
    return wheel, sdist


def _source_modules():
    """Every module of the two packages: polykeras (the library) and polykeras_cli (the command)."""
    return sorted(
        os.path.relpath(p, REPO)
        for package in ("polykeras", "polykeras_cli")
        for p in glob.glob(os.path.join(REPO, package, "**", "*.py"), recursive=True)
    )


def test_the_wheel_carries_the_modules_and_the_mnist_sample(dist):
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        package = sorted(n for n in names if ".dist-info/" not in n)
        assert package == sorted([*_source_modules(), *DATA_FILES])
        for name in DATA_FILES:  # byte for byte the files in the tree
            with open(os.path.join(REPO, name), "rb") as f:
                assert archive.read(name) == f.read()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "Requires-Dist: keras>=3.15.1" in metadata and "Requires-Python: >=3.11" in metadata
    # No backend unless asked for: each is an extra, as with Keras and KerasTuner.
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    for name, version in (("tensorflow", "<2.22,>=2.21"), ("jax", ">=0.9"), ("torch", ">=2.13")):
        assert [r for r in requires if r.startswith(f"Requires-Dist: {name}")] == [
            f'Requires-Dist: {name}{version}; extra == "{name}"'
        ]
    assert "polykeras = polykeras_cli:main" in entry_points


def test_the_sdist_carries_the_sample_tests_and_lock(dist):
    _, sdist = dist
    with tarfile.open(sdist) as archive:
        top = os.path.basename(sdist)[: -len(".tar.gz")]
        names = {n.removeprefix(top + "/") for n in archive.getnames()}
    assert {
        *DATA_FILES,
        *_source_modules(),
        "pyproject.toml",
        "uv.lock",
        "requirements-bootstrap.txt",
        "tests/test_packaging.py",
        "README.md",
    } <= names
    assert not any(n.startswith("logs/") and n != "logs" for n in names)


@pytest.mark.slow
def test_the_installed_wheel_runs_outside_the_tree(dist, tmp_path):
    """`polykeras[jax]` from the wheel in a fresh venv, as a JAX user installs it: no TensorFlow, no PyTorch."""
    wheel, _ = dist
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    uv = _uv()
    run = dict(check=True, capture_output=True, text=True)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], **run)
    locked = tmp_path / "locked.txt"  # the runtime dependencies exactly as uv.lock pins them
    subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--extra",
            "jax",
            "--quiet",
            "--output-file",
            str(locked),
        ],
        cwd=REPO,
        **run,
    )
    python = str(venv / "bin" / "python")
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "--require-hashes", "-r", str(locked)], **run)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "--no-deps", wheel], **run)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="jax")

    def polykeras(*args):
        done = subprocess.run(
            [str(venv / "bin" / "polykeras"), *args], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    out = polykeras("train-mnist", "--data", "sample", "--epochs", "1", "--save", "m.keras", "--json", "t.json")
    assert out.splitlines()[0] == "backend: jax"
    trained = json.loads((work / "t.json").read_text())

    # A fresh process loads the model with safe_mode=True, from the installed package, not the source tree.
    check = (
        "import importlib.util, json, keras, numpy as np, polykeras\n"
        "from polykeras.data import load_mnist\n"
        "model = keras.saving.load_model('m.keras', safe_mode=True)\n"
        "_, (x, y), _ = load_mnist('sample')\n"
        "accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))\n"
        "installed = [b for b in ('tensorflow', 'jax', 'torch') if importlib.util.find_spec(b)]\n"
        "print(json.dumps({'file': polykeras.__file__, 'accuracy': accuracy, 'installed': installed}))\n"
    )
    done = subprocess.run([python, "-c", check], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["file"].startswith(str(venv)) and "site-packages" in loaded["file"] and loaded["installed"] == ["jax"]
    assert loaded["accuracy"] == trained["test_accuracy"] and loaded["accuracy"] > 0.8
