"""The example scripts, run as users run them (small settings through environment variables)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO


def run_script(name, cwd, **settings):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **{k: str(v) for k, v in settings.items()}}
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", name)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.any_backend("torch")  # an example of the library, once; fit_polynomial on each backend: test_polynomial.py
def test_fit_polynomial_script_matches_least_squares(tmp_path):
    out = run_script("fit_polynomial.py", tmp_path, EPOCHS=20)
    assert "trainable: ['coefficients']" in out
    assert "not trainable: ['domain_min', 'domain_max', 'basis_transform']" in out
    rows = re.findall(r"^\s+x\^\d\s+0\s+(\S+)\s+(\S+)$", out, re.M)
    learned, optimum = np.array(rows, float).T
    np.testing.assert_allclose(learned, optimum, atol=1e-5)
    assert float(re.search(r"relative gap: (\S+)", out).group(1)) < 1e-6
    assert os.listdir(tmp_path / "logs" / "scripts" / "fit_polynomial" / "train")


@pytest.mark.any_backend("torch")  # an example of the library, once; train_mnist on each backend: test_mnist.py
def test_train_mnist_script_trains_and_saves(tmp_path):
    out = run_script("train_mnist.py", tmp_path, EPOCHS=2)
    assert "sample: 4000 training and 1000 test images" in out
    assert float(re.search(r"test accuracy: (\S+)", out).group(1)) > 0.8
    assert (tmp_path / "mnist_mlp.keras").is_file()


@pytest.mark.slow
@pytest.mark.any_backend("torch")  # a distributed search from a Python script, with a model of its own: once
def test_tune_script_searches_and_saves_the_best(tmp_path):
    out = run_script("tune_learning_rate.py", tmp_path, TUNER="random", MAX_TRIALS=2, MAX_EPOCHS=1, WORKERS=1)
    suggestion = float(re.search(r"^lr_find suggests (\S+) ", out, re.M).group(1))
    assert 1e-5 <= suggestion <= 1.0
    rates = [float(r) for r in re.findall(r"^ +\d+  lr (\S+)  val_accuracy", out, re.M)]
    assert len(rates) == 2 and all(0.09 * suggestion <= r <= 3.1 * suggestion for r in rates)  # the range, rounded
    assert re.findall(r"^tuner\d: pid \d+", out, re.M) and re.search(r"^best: \{'learning_rate': ", out, re.M)
    # Each finished trial reported once, numbered by the chief's finished trials, with the best so far.
    reported = re.findall(r"^trial \d+ \((\d) of 2 done\)  lr \S+  val_accuracy (\S+)  best (\S+)", out, re.M)
    assert [n for n, _, _ in reported] == ["1", "2"]
    assert float(reported[-1][2]) == max(float(score) for _, score, _ in reported)
    assert float(re.search(r"^best: .* \(val_accuracy (\S+)\)", out, re.M).group(1)) == float(reported[-1][2])
    assert float(re.search(r"test accuracy: (\S+)", out).group(1)) > 0.5  # one epoch of 4000 digits
    assert (tmp_path / "best_convnet.keras").is_file()
    project = tmp_path / "logs" / "scripts" / "tune" / "convnet"
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert sorted(t["status"] for t in trials) == ["COMPLETED", "COMPLETED"]
    # The workers got the model and the data through the project folder, and trained both trials.
    assert (project / "polykeras_model.keras").is_file() and (project / "polykeras_data.npz").is_file()
    pids = {int(p) for p in re.findall(r"^tuner\d: pid (\d+)", out, re.M)}
    trainers = {int(f.name.rsplit(".", 2)[1]) for f in (project / "tensorboard").glob("*/execution0/train/*tfevents*")}
    assert trainers and trainers <= pids


@pytest.mark.any_backend  # the example, once; the callback on convnets on each backend: test_tensorboard_callback.py
def test_watch_a_convnet_script_logs_what_the_convnet_learned(tmp_path):
    from helpers import read_run

    # On TensorFlow: XLA's compilation of the convnet makes JAX the slowest to run it here (47 s against 34 s).
    out = run_script("watch_a_convnet.py", tmp_path, EPOCHS=2, KERAS_BACKEND="tensorflow")
    assert float(re.search(r"test accuracy: (\S+)", out).group(1)) > 0.8
    run = read_run(tmp_path / "logs" / "scripts" / "watch_a_convnet" / "train")
    assert {
        "weights/conv2d_kernels",
        "weights/conv2d_learned",
        "activations/conv2d/dead_fraction",
        "activations/conv2d_1/dead_fraction",
        "epoch_accuracy",
        "keras",
    } <= set(run)
    assert [s for s, _ in run["weights/conv2d_learned"]] == [0, 1, 2]
    assert any(tag.startswith("update_ratio/") and tag.endswith("conv2d/kernel") for tag in run)
