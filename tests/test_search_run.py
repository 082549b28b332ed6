"""`polykeras.search`: the result, models of the user's, models it was not designed for, a SIGKILL and a rerun."""

import json
import os
import re
import signal
import time

import keras
import keras_tuner
import numpy as np
import pytest
from helpers import BACKEND, Subclassed, alive, functional_with_batchnorm, popen, read_run, regression_data

from polykeras import search
from polykeras.data import synthetic_polynomial

POLY_ARGS = ["tune", "poly", "--max-epochs", "4", "--seed", "3"]


def completed_trials(project):
    """{trial_id: status} from the trial files KerasTuner writes."""
    out = {}
    for name in os.listdir(project):
        path = os.path.join(project, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            with open(path) as f:
                trial = json.load(f)
            out[trial["trial_id"]] = trial["status"]
    return out


def test_search_reports_every_trial_and_returns_the_result(tmp_path):
    seen = []
    result = search("poly", tuner="hyperband", max_epochs=9, directory=str(tmp_path), seed=3, on_trial_end=seen.append)
    # Hyperband at factor 9 over 9 epochs plans 12 trials (9 + 1 in one bracket, 2 in the other), and runs them.
    assert [t["number"] for t in seen] == list(range(1, 13)) and {t["total"] for t in seen} == {12}
    assert len(result.trials) == 12 and {t["status"] for t in result.trials} == {"COMPLETED"}
    scores = [t["score"] for t in seen]
    assert [t["best_score"] for t in seen] == [min(scores[: k + 1]) for k in range(12)]
    assert result.objective == "val_loss" and result.best_score == min(scores)
    best = next(t for t in seen if t["score"] == result.best_score)
    assert result.best_hyperparameters == best["hyperparameters"]
    assert result.trained_epochs == 9 * 1 + (9 - 1) + 2 * 9  # the 1-epoch winner continues for 8 more
    assert os.path.isdir(os.path.join(result.log_dir, best["trial_id"]))

    model = result.best_model()
    x, y = synthetic_polynomial([1, 2, 3], samples=200, noise=0.1, seed=3)
    assert float(np.mean((model.predict(x, verbose=0) - y) ** 2)) < 0.02  # the noise's variance is 0.01


# ----------------------------------------------------------------------------
# A user's own model


def line_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)], name="line")
    model.compile(optimizer="sgd", loss="mse")
    return model


def line_data(n=200):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 1)).astype("float32")
    return x, (3 * x + 1 + 0.01 * rng.normal(size=(n, 1))).astype("float32")


def build_line(hp):
    """A user's build(hp) function: the line model, compiled with SGD."""
    return line_model()


class ShufflingLineHyperModel(keras_tuner.HyperModel):
    """A user's HyperModel with a hyperparameter of its own, in its fit."""

    def build(self, hp):
        return line_model()

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, shuffle=hp.Boolean("shuffle"), **kwargs)


# A compiled model on every backend; a build function once (what differs, calling it, is the same everywhere).
@pytest.mark.parametrize(
    "given", ["compiled model", pytest.param("build function", marks=pytest.mark.any_backend("torch"))]
)
def test_search_finds_the_rate_that_trains_a_users_model_and_leaves_the_model_alone(tmp_path, given):
    """y = 3x + 1 by SGD in 16 steps: 0.01 barely moves, rates near 0.3 fit it, 1.0 oscillates. Each trial trains
    at its rate, whether it clones the user's compiled model or calls the user's build(hp)."""
    model = line_model()
    before = [w.copy() for w in model.get_weights()]
    seen = []
    result = search(
        model if given == "compiled model" else build_line,
        *line_data(),
        tuner="grid",
        max_trials=20,
        max_epochs=2,
        lr_range=(0.01, 1.0),
        batch_size=20,
        directory=str(tmp_path),
        on_trial_end=seen.append,
    )
    rates = sorted(t["hyperparameters"]["learning_rate"] for t in result.trials)
    np.testing.assert_allclose(rates, np.geomspace(0.01, 1.0, 9), rtol=1e-6)
    assert [t["number"] for t in seen] == list(range(1, 10)) and {t["total"] for t in seen} == {9}
    scores = {t["hyperparameters"]["learning_rate"]: t["score"] for t in result.trials}
    assert 0.1 <= result.best_hyperparameters["learning_rate"] <= 0.6 and result.best_score < 1e-2
    assert scores[min(scores)] > 0.5 and result.best_score == min(scores.values())
    project = "line" if given == "compiled model" else "build_line"
    assert result.objective == "val_loss" and os.path.basename(os.path.dirname(result.log_dir)) == project
    if given == "build function":
        return
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    best = result.best_model()  # retrained from a fresh clone at the best rate
    x, y = line_data()
    assert best is not model and float(np.mean((best.predict(x, verbose=0) - y) ** 2)) < 1e-2


def test_search_runs_a_users_hypermodel_with_its_own_hyperparameters_and_fit(tmp_path):
    result = search(
        ShufflingLineHyperModel(),
        *line_data(),
        tuner="random",
        max_trials=3,
        max_epochs=2,
        lr_range=(0.1, 0.5),
        batch_size=20,
        directory=str(tmp_path),
        seed=2,
    )
    assert len(result.trials) == 3 and {t["status"] for t in result.trials} == {"COMPLETED"}
    for trial in result.trials:
        assert set(trial["hyperparameters"]) == {"learning_rate", "shuffle"}
        assert 0.1 <= trial["hyperparameters"]["learning_rate"] <= 0.5 and trial["score"] < 0.1
        run = read_run(os.path.join(result.log_dir, trial["trial_id"], "execution0", "validation"))
        assert "epoch_loss" in run
    best = result.best_model()  # built and fitted through the user's hypermodel, at the best values
    x, y = line_data()
    assert float(np.mean((best.predict(x, verbose=0) - y) ** 2)) < 0.1


def conv_model():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ],
        name="conv",
    )
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model, np.random.default_rng(1).random((24, 6, 6, 1), "float32"), np.arange(24) % 2


def batchnorm_two_inputs_model():
    return (functional_with_batchnorm(), *regression_data(2, n=24))


def subclassed_model():
    model = Subclassed()
    model.compile(optimizer="rmsprop", loss="mse")
    return (model, *regression_data(1, n=24))


@pytest.mark.parametrize(
    "make",
    [conv_model, batchnorm_two_inputs_model, subclassed_model],
    ids=["convnet", "batchnorm_two_inputs", "subclassed"],
)
def test_search_runs_on_models_it_was_not_designed_for(tmp_path, make):
    model, x, y = make()
    objective = "val_accuracy" if model.name == "conv" else "val_loss"
    result = search(
        model,
        x,
        y,
        tuner="random",
        max_trials=2,
        max_epochs=1,
        batch_size=8,
        objective=objective,
        directory=str(tmp_path),
        seed=1,
    )
    assert len(result.trials) == 2 and {t["status"] for t in result.trials} == {"COMPLETED"}
    assert all(np.isfinite(t["score"]) for t in result.trials) and result.objective == objective
    for trial in result.trials:  # each trial's own TensorBoard folder, with the metrics Keras logged
        run = read_run(os.path.join(result.log_dir, trial["trial_id"], "execution0", "validation"))
        assert objective.replace("val_", "epoch_") in run


@pytest.mark.any_backend
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"max_trials": 0}, "max_trials must be an integer >= 1. Received: max_trials=0"),
        ({"workers": -1}, "workers must be an integer >= 0. Received: workers=-1"),
        ({"port": 70000}, "port must be an integer from 0 to 65535. Received: port=70000"),
    ],
)
def test_the_library_names_its_own_parameters(arguments, message):
    """The command line says --max-trials; the library max_trials (polykeras_cli.as_flags maps one to the other)."""
    import polykeras

    with pytest.raises(ValueError) as caught:
        polykeras.search("poly", **arguments)
    assert str(caught.value) == message and caught.value.parameter == next(iter(arguments))


def _pids(out):
    """The PIDs of the chief and workers a launcher said it started."""
    return [int(pid) for pid in re.findall(r"^(?:chief|tuner\d+): pid (\d+)", out, re.M)]


# In this process, and with a worker as KerasTuner's distributed mode runs it: the launcher is SIGKILLed, which
# kills its chief and worker too. Each runs once: what is tested, the trial files a killed search leaves and the
# rerun that finishes only the rest, is the same on every backend. The search in the launcher's own process runs
# on TensorFlow, the default backend; the one with a worker (three processes, each started twice) on JAX, the
# quickest to start. Searches with workers run on TensorFlow in the Quickstart (test_readme.py), on PyTorch and
# JAX in test_backend.py, and where JAX alone is installed in test_without_tensorflow.py.
@pytest.mark.parametrize("workers", [0, pytest.param(1, marks=pytest.mark.any_backend("jax"))])
def test_sigkilled_search_completes_every_trial_once_when_rerun(tmp_path, workers):
    if not workers and BACKEND != "tensorflow":
        pytest.skip("in the launcher's process: on TensorFlow, once")
    args = [*POLY_ARGS, "--tuner", "random", "--max-trials", "6", "--max-epochs", "20", "--workers", str(workers)]
    project = tmp_path / "logs" / "tune" / "poly"
    first = popen(*args, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if project.exists() and list(completed_trials(project).values()).count("COMPLETED") >= 2:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the search ended before it could be killed"
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        out_first, _ = first.communicate()
    started = _pids(out_first)
    assert len(started) == (2 if workers else 0), out_first
    deadline = time.monotonic() + 20
    while any(alive(pid, tmp_path) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid, tmp_path) for pid in started), "a process outlived its launcher"
    finished = {t for t, status in completed_trials(project).items() if status == "COMPLETED"}
    assert 2 <= len(finished) < 6
    saved = {t: (project / f"trial_{t}" / "trial.json").read_bytes() for t in finished}

    second = popen(*args, "--json", "r.json", cwd=tmp_path)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    trials = json.loads((tmp_path / "r.json").read_text())["trials"]
    assert sorted(t["trial_id"] for t in trials) == [f"{i}" for i in range(6)]
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert completed_trials(project) == {t["trial_id"]: "COMPLETED" for t in trials}
    # Only the unfinished trials ran again: the rerun reports them alone, numbered after the finished ones,
    # and the finished trials' files and TensorBoard runs are as the killed search left them.
    reported = re.findall(r"^trial (\d+) \((\d+) of 6 done\)", out, re.M)
    assert [int(n) for _, n in reported] == list(range(len(finished) + 1, 7)), out
    assert {t for t, _ in reported} == {f"{i}" for i in range(6)} - finished
    assert {t: (project / f"trial_{t}" / "trial.json").read_bytes() for t in finished} == saved
    board = project / "tensorboard"
    assert all(len(os.listdir(board / t / "execution0" / "train")) == 1 for t in finished)
