"""Learning-rate search with KerasTuner: spaces, tuners, resume, HParams, distributed workers, lr-find."""

import json
import os
import re
import signal
import socket
import time
import urllib.request

import keras
import keras_tuner
import numpy as np
import pytest

from conftest import popen
from polykeras import tuning
from polykeras.data import load_mnist, synthetic_polynomial

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


# ----------------------------------------------------------------------------
# Search spaces and tuners


def test_search_spaces_build_from_default_hyperparameters():
    x, y = synthetic_polynomial([1, 2, 3])
    hp = keras_tuner.HyperParameters()
    model = tuning.PolynomialHyperModel(x, y).build(hp)
    assert hp.values == {"learning_rate": 1e-3} and [w.name for w in model.trainable_weights] == ["coefficients"]
    *data, _ = load_mnist("sample")
    hp = keras_tuner.HyperParameters()
    tuning.MnistHyperModel(data, max_epochs=3, optimizers=["adam", "sgd"]).build(hp)
    assert hp.values == {"learning_rate": 1e-4, "optimizer": "adam"}
    space = hp.get_config()["space"]
    rate = next(s["config"] for s in space if s["config"]["name"] == "learning_rate")
    assert (rate["min_value"], rate["max_value"], rate["sampling"]) == (1e-4, 1e-1, "log")


def test_mnist_validation_is_held_out_of_training_and_stratified():
    *data, _ = load_mnist("sample")
    hypermodel = tuning.MnistHyperModel(data, max_epochs=3)
    assert len(hypermodel.train[0]) == 3400 and len(hypermodel.validation[0]) == 600
    assert np.bincount(hypermodel.validation[1].argmax(1)).tolist() == [60] * 10


@pytest.mark.any_backend
def test_grid_is_thirteen_log_spaced_rates():
    rates = tuning.grid_points(1e-4, 1e-1)
    assert len(rates) == 13 and rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-1)
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10 ** 0.25)


@pytest.mark.any_backend("jax")  # KerasTuner's four tuners; training through them on each backend is tested below
@pytest.mark.parametrize("name", tuning.TUNERS)
def test_every_tuner_finds_a_working_rate_for_the_polynomial(tmp_path, name):
    x, y = synthetic_polynomial([1, 2, 3], samples=200)
    hypermodel = tuning.PolynomialHyperModel(x, y, grid=name == "grid")
    # The grid gets its 13 points, random and Bayesian search 6 trials; Hyperband (factor 9) over 10 epochs
    # plays two brackets, 12 trials.
    tuner = tuning.make_tuner(name, hypermodel, max_trials=13 if name == "grid" else 6, max_epochs=10,
                              directory=str(tmp_path), project_name=name)
    tuner.search(epochs=10, verbose=0)
    rows = tuning.trial_rows(tuner, 10)
    assert all(status == "COMPLETED" for *_, status in rows)
    if name == "grid":  # KerasTuner's grid over the log-stepped rate is the 13-point log grid
        tried = sorted(hp["learning_rate"] for _, hp, *_ in rows)
        np.testing.assert_allclose(tried, tuning.grid_points(1e-3, 1.0), rtol=1e-6)
    # From zero, 10 epochs at a good rate get the validation loss near the noise (0.01).
    assert rows[0][2] < 0.05, rows[0]


def test_search_reports_every_trial_and_returns_the_result(tmp_path):
    seen = []
    result = tuning.search("poly", tuner="hyperband", max_epochs=9, directory=str(tmp_path), seed=3,
                           on_trial_end=seen.append)
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
    x, y = tuning.task_data("poly", seed=3)
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


def test_search_finds_the_rate_that_trains_a_users_model_and_leaves_the_model_alone(tmp_path):
    """y = 3x + 1 by SGD in 16 steps: 0.01 barely moves, rates near 0.3 fit it, 1.0 oscillates."""
    model = line_model()
    before = [w.copy() for w in model.get_weights()]
    seen = []
    result = tuning.search(model, *line_data(), tuner="grid", max_trials=20, max_epochs=2, lr_range=(0.01, 1.0),
                           batch_size=20, directory=str(tmp_path), on_trial_end=seen.append)
    rates = sorted(t["hyperparameters"]["learning_rate"] for t in result.trials)
    np.testing.assert_allclose(rates, np.geomspace(0.01, 1.0, 9), rtol=1e-6)
    assert [t["number"] for t in seen] == list(range(1, 10)) and {t["total"] for t in seen} == {9}
    scores = {t["hyperparameters"]["learning_rate"]: t["score"] for t in result.trials}
    assert 0.1 <= result.best_hyperparameters["learning_rate"] <= 0.6 and result.best_score < 1e-2
    assert scores[min(scores)] > 0.5 and result.best_score == min(scores.values())
    assert result.objective == "val_loss" and os.path.basename(os.path.dirname(result.log_dir)) == "line"
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    best = result.best_model()  # retrained from a fresh clone at the best rate
    x, y = line_data()
    assert best is not model and float(np.mean((best.predict(x, verbose=0) - y) ** 2)) < 1e-2


def build_line(hp):
    """A user's build(hp) function: the line model, compiled with SGD."""
    return line_model()


class ShufflingLineHyperModel(keras_tuner.HyperModel):
    """A user's HyperModel with a hyperparameter of its own, in its fit."""

    def build(self, hp):
        return line_model()

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, shuffle=hp.Boolean("shuffle"), **kwargs)


def test_search_finds_the_rate_that_trains_what_a_users_build_function_builds(tmp_path):
    result = tuning.search(build_line, *line_data(), tuner="grid", max_trials=20, max_epochs=2, lr_range=(0.01, 1.0),
                           batch_size=20, directory=str(tmp_path))
    rates = sorted(t["hyperparameters"]["learning_rate"] for t in result.trials)
    np.testing.assert_allclose(rates, np.geomspace(0.01, 1.0, 9), rtol=1e-6)
    scores = {t["hyperparameters"]["learning_rate"]: t["score"] for t in result.trials}
    # As for the compiled line model: the searched rate is the one SGD trained with.
    assert 0.1 <= result.best_hyperparameters["learning_rate"] <= 0.6 and result.best_score < 1e-2
    assert scores[min(scores)] > 0.5
    assert os.path.basename(os.path.dirname(result.log_dir)) == "build_line"


def test_search_runs_a_users_hypermodel_with_its_own_hyperparameters_and_fit(tmp_path):
    from conftest import read_run

    result = tuning.search(ShufflingLineHyperModel(), *line_data(), tuner="random", max_trials=3, max_epochs=2,
                           lr_range=(0.1, 0.5), batch_size=20, directory=str(tmp_path), seed=2)
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
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(2)], name="conv")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model, np.random.default_rng(1).random((24, 6, 6, 1), "float32"), np.arange(24) % 2


def batchnorm_two_inputs_model():
    from test_hypermodels import data, functional_with_batchnorm

    return (functional_with_batchnorm(), *data(2, n=24))


def subclassed_model():
    from test_hypermodels import Subclassed, data

    model = Subclassed()
    model.compile(optimizer="rmsprop", loss="mse")
    return (model, *data(1, n=24))


@pytest.mark.parametrize("make", [conv_model, batchnorm_two_inputs_model, subclassed_model],
                         ids=["convnet", "batchnorm_two_inputs", "subclassed"])
def test_search_runs_on_models_it_was_not_designed_for(tmp_path, make):
    from conftest import read_run

    model, x, y = make()
    objective = "val_accuracy" if model.name == "conv" else "val_loss"
    result = tuning.search(model, x, y, tuner="random", max_trials=2, max_epochs=1, batch_size=8,
                           objective=objective, directory=str(tmp_path), seed=1)
    assert len(result.trials) == 2 and {t["status"] for t in result.trials} == {"COMPLETED"}
    assert all(np.isfinite(t["score"]) for t in result.trials) and result.objective == objective
    for trial in result.trials:  # each trial's own TensorBoard folder, with the metrics Keras logged
        run = read_run(os.path.join(result.log_dir, trial["trial_id"], "execution0", "validation"))
        assert objective.replace("val_", "epoch_") in run


def test_smoothing_is_a_bias_corrected_moving_average():
    # By hand, beta 0.5: 0.5 / 0.5; (0.25 + 1) / 0.75; (0.625 + 1.5) / 0.875.
    np.testing.assert_allclose(tuning.smooth([1.0, 2.0, 3.0], beta=0.5), [1.0, 5 / 3, 17 / 7])


def test_the_suggestion_on_a_loss_curve_whose_best_rate_is_known():
    rates = np.geomspace(1e-4, 10, 101)  # 20 rates a decade
    losses = np.log10(rates / 0.1) ** 2  # lowest at 0.1, without noise
    # A tenth of the best rate, late by the moving average's lag (9 steps of beta 0.9: under half a decade).
    assert 0.01 <= tuning.suggest_learning_rate(rates, losses) <= 0.01 * 10 ** 0.5
    noisy = losses + np.random.default_rng(0).normal(0, 0.05, len(losses))
    assert 0.01 <= tuning.suggest_learning_rate(rates, noisy) <= 0.01 * 10 ** 0.5


def test_lr_find_result():
    from polykeras.hypermodels import make_hypermodel, task_data

    result = tuning.lr_find("poly", steps=60)
    assert len(result.rates) == len(result.losses) == len(result.smoothed) <= 60
    assert np.all(np.diff(result.rates) > 0) and result.rates[0] == pytest.approx(1e-4)
    # The first loss is the zero polynomial's on the search's training part: mean(y^2).
    train_y = make_hypermodel("poly", task_data("poly", None, 0), max_epochs=1).train[1]
    assert result.losses[0] == pytest.approx(np.mean(train_y ** 2), rel=1e-6)
    np.testing.assert_allclose(result.smoothed, tuning.smooth(result.losses))
    # SGD on the orthonormal basis converges fastest at 0.5 and diverges above 1: the loss explodes, and
    # the suggestion stays below the divergence.
    assert result.diverged and result.losses[-1] > 100 * result.losses[0]
    assert 0.05 < result.suggestion < 1.0


def test_a_workers_count_of_finished_trials_leaves_out_the_running_ones(tmp_path):
    """A worker counts through KerasTuner's get_best_trials, which pads its answer with unfinished trials."""
    x, y = synthetic_polynomial([1, 2, 3])
    oracle = tuning.make_tuner("random", tuning.PolynomialHyperModel(x, y), max_trials=4,
                               directory=str(tmp_path)).oracle
    first = oracle.create_trial("tuner0")
    oracle.update_trial(first.trial_id, {"val_loss": 0.5})
    first.status = "COMPLETED"
    oracle.end_trial(first)
    oracle.create_trial("tuner1")  # running

    class WorkersOracle:
        """What a worker's OracleClient offers for this: the chief's get_best_trials, and no trials."""

        get_best_trials = staticmethod(oracle.get_best_trials)

    assert len(oracle.get_best_trials(4)) == 2  # the padding
    assert tuning.finished_scores(WorkersOracle(), 4) == tuning.finished_scores(oracle, 4) == [0.5]


def test_unknown_tuner_and_changed_space(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    with pytest.raises(ValueError, match="Received: tuner='annealing'"):
        tuning.make_tuner("annealing", tuning.PolynomialHyperModel(x, y), directory=str(tmp_path))
    tuning.make_tuner("random", tuning.PolynomialHyperModel(x, y), max_trials=1, directory=str(tmp_path))
    other = tuning.PolynomialHyperModel(x, y, lr_range=(1e-2, 0.5))
    advice = r"changed: learning_rate\); start it again with overwrite=True, or search another project with project_name=NAME$"
    with pytest.raises(ValueError, match=advice):
        tuning.make_tuner("random", other, max_trials=1, directory=str(tmp_path))
    tuning.make_tuner("random", other, max_trials=1, directory=str(tmp_path), overwrite=True)


# ----------------------------------------------------------------------------
# The command: results, resume, a SIGKILL, HParams


def test_tune_json_and_resume(cli, tmp_path):
    code, out, err = cli(*POLY_ARGS, "--tuner", "random", "--max-trials", "3", "--json", "a.json")
    assert code == 0, err
    first = json.loads((tmp_path / "a.json").read_text())
    assert set(first) >= {"best_hyperparameters", "best_score", "objective", "trials", "tuner"}
    assert first["objective"] == "val_loss" and first["tuner"] == "random" and len(first["trials"]) == 3
    scores = [t["score"] for t in first["trials"]]
    assert scores == sorted(scores) and first["best_score"] == scores[0]
    # The same command again: nothing is redone; with more trials, only the new ones run.
    project = tmp_path / "logs" / "tune" / "poly"
    saved = {p: p.read_bytes() for p in project.glob("trial_*/trial.json")}
    events = sorted(project.glob("tensorboard/*/execution0/train/*tfevents*"))
    code, out, err = cli(*POLY_ARGS, "--tuner", "random", "--max-trials", "3", "--json", "b.json")
    assert code == 0 and not re.search(r"^trial \d", out, re.M), out  # no trial ran
    assert json.loads((tmp_path / "b.json").read_text())["trials"] == first["trials"]
    assert {p: p.read_bytes() for p in project.glob("trial_*/trial.json")} == saved
    assert sorted(project.glob("tensorboard/*/execution0/train/*tfevents*")) == events  # nothing trained
    code, out, err = cli(*POLY_ARGS, "--tuner", "random", "--max-trials", "5", "--json", "c.json")
    assert code == 0 and len(re.findall(r"^trial \d/5 ", out, re.M)) == 2, out  # the two new ones alone
    more = json.loads((tmp_path / "c.json").read_text())["trials"]
    assert len(more) == 5 and all(t in more for t in first["trials"])
    assert all(p.read_bytes() == content for p, content in saved.items())


@pytest.mark.any_backend("jax")
def test_sigkilled_search_completes_every_trial_once_when_rerun(tmp_path):
    args = [*POLY_ARGS, "--tuner", "random", "--max-trials", "8", "--max-epochs", "40"]
    project = tmp_path / "logs" / "tune" / "poly"
    first = popen(*args, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if project.exists() and list(completed_trials(project).values()).count("COMPLETED") >= 2:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the search ended before it could be killed"
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    finished = {t for t, status in completed_trials(project).items() if status == "COMPLETED"}
    assert 2 <= len(finished) < 8
    saved = {t: (project / f"trial_{t}" / "trial.json").read_bytes() for t in finished}

    second = popen(*args, "--json", "r.json", cwd=tmp_path)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    trials = json.loads((tmp_path / "r.json").read_text())["trials"]
    assert sorted(t["trial_id"] for t in trials) == [f"{i}" for i in range(8)]
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert completed_trials(project) == {t["trial_id"]: "COMPLETED" for t in trials}
    # Only the unfinished trials ran again: the rerun reports them alone, numbered after the finished ones,
    # and the finished trials' files and TensorBoard runs are as the killed search left them.
    assert re.findall(r"^trial (\d+)/8 ", out, re.M) == [str(k) for k in range(len(finished) + 1, 9)]
    assert {t: (project / f"trial_{t}" / "trial.json").read_bytes() for t in finished} == saved
    board = project / "tensorboard"
    assert all(len(os.listdir(board / t / "execution0" / "train")) == 1 for t in finished)


def _post(base, path, payload):
    request = urllib.request.Request(base + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.any_backend("jax")  # TensorBoard's reading of the search's logs; the search on each backend: above
def test_hparams_dashboard_shows_every_trial(cli, tmp_path):
    from test_cli import _start_tensorboard, _stop_tensorboard

    code, _, err = cli(*POLY_ARGS, "--tuner", "random", "--max-trials", "3", "--json", "h.json")
    assert code == 0, err
    trials = json.loads((tmp_path / "h.json").read_text())["trials"]
    board = tmp_path / "logs" / "tune" / "poly" / "tensorboard"
    server, base = _start_tensorboard(str(board))
    try:
        deadline = time.monotonic() + 60
        while True:
            experiment = _post(base, "data/plugin/hparams/experiment", {"experimentName": ""})
            groups = _post(base, "data/plugin/hparams/session_groups", {
                "experimentName": "", "startIndex": 0, "sliceSize": 100,
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                "colParams": [{"hparam": "learning_rate"},
                              {"metric": {"tag": "epoch_loss", "group": "validation"}}],
            })
            if len(groups.get("sessionGroups", [])) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        rate = next(h for h in experiment["hparamInfos"] if h["name"] == "learning_rate")
        assert rate["domainInterval"] == {"minValue": 1e-3, "maxValue": 1.0}
        assert {"tag": "epoch_loss", "group": "validation"} in [m["name"] for m in experiment["metricInfos"]]
        seen = {round(g["hparams"]["learning_rate"], 12): g["metricValues"][0]["value"] for g in groups["sessionGroups"]}
        expected = {round(t["hyperparameters"]["learning_rate"], 12): t["score"] for t in trials}
        assert seen.keys() == expected.keys()
        for rate_value, score in expected.items():
            assert seen[rate_value] == pytest.approx(score, rel=1e-5)
    finally:
        _stop_tensorboard(server)


# ----------------------------------------------------------------------------
# The learning-rate range test


def test_lr_find_poly(cli, tmp_path):
    code, out, err = cli("lr-find", "poly", "--json", "f.json", "--plot", "f.png")
    assert code == 0, err
    result = json.loads((tmp_path / "f.json").read_text())
    # The orthonormal basis's exact Newton step is 0.5; divergence starts at 1.
    assert 0.05 <= result["suggested_learning_rate"] <= 1.0
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    from conftest import read_run

    run = read_run(str(next((tmp_path / "logs" / "lr-find").iterdir()) / "train"))
    assert {"lr_find/loss", "lr_find/learning_rate", "lr_find/smoothed_loss", "lr_find/loss_vs_rate"} <= set(run)


@pytest.mark.any_backend  # the command line's flags; training on each backend is tested above
def test_lr_find_mnist(cli, tmp_path):
    code, out, err = cli("lr-find", "mnist", "--data", "sample", "--steps", "20", "--json", "m.json", "--no-log")
    assert code == 0, err
    result = json.loads((tmp_path / "m.json").read_text())
    rates, losses = result["learning_rates"], result["losses"]
    assert 10 <= len(rates) == len(losses) <= 20 and rates[0] == pytest.approx(1e-6)  # doubling to 1, or diverged
    np.testing.assert_allclose(np.diff(np.log10(rates)), 6 / 19, rtol=1e-6)
    assert losses[0] > 2.0  # an untrained 10-class classifier: about ln 10 = 2.3
    assert 1e-6 < result["suggested_learning_rate"] <= 0.1
    assert f"suggested learning rate: {result['suggested_learning_rate']:.3g} " in out


@pytest.mark.any_backend  # the command line's flags; training on each backend is tested above
def test_tune_searches_optimizers_in_a_named_project_and_saves_the_best(cli, tmp_path):
    args = [*POLY_ARGS, "--tuner", "random", "--max-trials", "4", "--optimizers", "sgd,adam", "--project-name",
            "mine", "--json", "t.json"]
    code, out, err = cli(*args, "--save", "best.keras")
    assert code == 0, err
    result = json.loads((tmp_path / "t.json").read_text())
    assert result["log_dir"] == os.path.join("logs", "tune", "mine", "tensorboard")
    chosen = [t["hyperparameters"]["optimizer"] for t in result["trials"]]
    assert len(chosen) == 4 and set(chosen) <= {"sgd", "adam"}
    assert re.search(r"^trial +learning rate +optimizer +val_loss", out, re.M)  # the table shows the optimizer
    saved = keras.saving.load_model(tmp_path / "best.keras")
    assert type(saved.optimizer).__name__.lower() == result["best_hyperparameters"]["optimizer"]
    before = (tmp_path / "best.keras").read_bytes()
    code, _, err = cli(*args, "--save", "best.keras")  # the finished search again: nothing to train
    assert code == 2 and err == "error: --save target exists; pass --overwrite-save to replace it. Received: best.keras\n"
    assert (tmp_path / "best.keras").read_bytes() == before
    code, out, err = cli(*args, "--save", "best.keras", "--overwrite-save")
    assert code == 0, err
    assert not re.search(r"^trial \d", out, re.M) and "model (best, retrained for 4 epochs): best.keras" in out
    assert keras.saving.load_model(tmp_path / "best.keras").count_params() == saved.count_params()


@pytest.mark.any_backend  # the command line's flags; training on each backend is tested above
def test_tune_mnist(cli, tmp_path):
    code, out, err = cli("tune", "mnist", "--data", "sample", "--tuner", "random", "--max-trials", "2", "--max-epochs",
                         "1", "--json", "m.json")
    assert code == 0, err
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["objective"] == "val_accuracy" and len(result["trials"]) == 2
    for trial in result["trials"]:  # one epoch of the sample: far above chance (0.1)
        assert trial["status"] == "COMPLETED" and 0.5 < trial["score"] <= 1.0
        assert 1e-4 <= trial["hyperparameters"]["learning_rate"] <= 1e-1
    assert result["best_score"] == max(t["score"] for t in result["trials"])


def test_tune_from_lr_find_centres_the_range(cli, tmp_path):
    code, out, err = cli(*POLY_ARGS, "--tuner", "random", "--max-trials", "2", "--from-lr-find", "--json", "c.json")
    assert code == 0, err
    suggestion = float(re.search(r"lr-find suggests ([\d.e-]+)", out).group(1))
    for trial in json.loads((tmp_path / "c.json").read_text())["trials"]:
        assert suggestion / 10.01 <= trial["hyperparameters"]["learning_rate"] <= min(1.0, suggestion * 10.01)
    # The space itself, as saved: a decade either side of the printed suggestion, not the default 1e-3..1.
    low, high = json.loads((tmp_path / "logs" / "tune" / "poly" / "polykeras_search.json").read_text())["learning_rate"]
    assert low == pytest.approx(suggestion / 10, rel=2e-3) and high == pytest.approx(min(1.0, suggestion * 10), rel=2e-3)


TUNE_BAD_INPUT = [
    (["lr-find", "poly", "--steps", "1"], "--steps must be an integer >= 2. Received: 1"),
    (["tune", "cnn"], "argument task: invalid choice: 'cnn'"),
    (["tune", "poly", "--batch-size", "8"], "--batch-size applies to PATH.keras, not to poly"),
    (["tune", "mine.keras", "--data", "nope.npz"], "model file not found. Received: mine.keras"),
    (["tune", "poly", "--tuner", "annealing"], "argument --tuner: invalid choice: 'annealing'"),
    (["tune", "poly", "--max-trials", "0"], "--max-trials must be an integer >= 1. Received: 0"),
    (["tune", "poly", "--max-epochs", "-1"], "--max-epochs must be an integer >= 1. Received: -1"),
    (["tune", "poly", "--directory", "/proc/polykeras-tune"], "--directory cannot be written"),
    (["lr-find", "nope"], "argument task: invalid choice: 'nope'"),
]


@pytest.mark.any_backend
@pytest.mark.parametrize("arguments, message", [
    ({"max_trials": 0}, "max_trials must be an integer >= 1. Received: max_trials=0"),
    ({"workers": -1}, "workers must be an integer >= 0. Received: workers=-1"),
    ({"port": 70000}, "port must be an integer from 0 to 65535. Received: port=70000"),
])
def test_the_library_names_its_own_parameters(arguments, message):
    """The command line says --max-trials; the library says max_trials (polykeras_cli.as_flags maps one to the other)."""
    import polykeras

    with pytest.raises(ValueError) as caught:
        polykeras.search("poly", **arguments)
    assert str(caught.value) == message and caught.value.parameter == next(iter(arguments))


@pytest.mark.any_backend
@pytest.mark.parametrize("args, message", TUNE_BAD_INPUT, ids=[" ".join(a) for a, _ in TUNE_BAD_INPUT])
def test_tune_bad_input(cli, tmp_path, args, message):
    code, out, err = cli(*args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "logs").exists()


@pytest.mark.any_backend
def test_tune_port_in_use(cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("tune", "poly", "--workers", "2", "--port", str(port))
    assert code == 2 and err == f"error: --port is in use. Received: {port}\n"


@pytest.mark.any_backend
def test_tune_rejects_an_unknown_optimizer_before_writing(cli, tmp_path):
    code, _, err = cli("tune", "poly", "--optimizers", "sgd,nope")
    assert code == 2 and err == "error: unknown Keras optimizer. Received: optimizer='nope'\n"
    assert not (tmp_path / "logs").exists()
    code, _, err = cli("tune", "poly", "--max-epochs", "0")
    assert code == 2 and err == "error: --max-epochs must be an integer >= 1. Received: 0\n"


@pytest.mark.any_backend
def test_the_search_space_file_is_never_read_half_written(tmp_path):
    """Processes of one search write and read polykeras_search.json at once; a reader must see it whole."""
    import threading

    hypermodel = tuning.PolynomialHyperModel(*synthetic_polynomial([1, 2, 3]))
    tuning.save_search_space(hypermodel, str(tmp_path))
    stop, failures, reads = threading.Event(), [], [0]

    def read():
        while not stop.is_set():
            try:
                tuning.check_search_space(hypermodel, str(tmp_path), overwrite=False)
            except Exception as e:  # a half-written file: JSONDecodeError
                failures.append(e)
            reads[0] += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3000):
            tuning.save_search_space(hypermodel, str(tmp_path))
    finally:
        stop.set()
        reader.join()
    assert reads[0] > 100 and not failures, failures[:3]


# lr_find on a model of the caller's: a two-input functional model with BatchNormalization and Adam.


def _users_model():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([a, b]))
    h = keras.layers.Dropout(0.1)(keras.layers.BatchNormalization()(h))
    model = keras.Model([a, b], keras.layers.Dense(1)(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(256, 4)).astype("float32"), rng.normal(size=(256, 3)).astype("float32")]
    y = (x[0].sum(axis=1, keepdims=True) - x[1][:, :1]).astype("float32")
    return model, x, y


def _state(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in [*model.variables, *model.optimizer.variables]]


def test_lr_find_leaves_a_users_model_and_its_optimizer_exactly_as_they_were():
    model, x, y = _users_model()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # Adam's moments and step count are not zero
    before, iterations = _state(model), int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    result = tuning.lr_find(model, x, y, steps=40, start_lr=1e-5, end_lr=1.0)
    after = _state(model)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)  # bit for bit
    # The test really trained: one optimizer step per rate, each loss from its own batch.
    assert len(result.losses) >= 10 and len(set(result.losses.round(6))) > 5
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == iterations
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == np.float32(1e-3)
    assert result.rates[0] == pytest.approx(1e-5) and result.method.startswith("a tenth of the rate")
    assert result.suggestion == pytest.approx(result.rates[np.argmin(result.smoothed)] / 10)


def test_an_exploding_loss_ends_lr_find_early_and_is_reported():
    model, x, y = _users_model()
    result = tuning.lr_find(model, x, y, steps=100, start_lr=1e-4, end_lr=1e6)
    assert result.diverged and len(result.losses) < 100
    assert result.smoothed[-1] > 4 * result.smoothed.min() or not np.isfinite(result.losses[-1])


def test_lr_find_takes_a_pydataset():
    model, x, y = _users_model()

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 8

        def __getitem__(self, k):
            part = slice(32 * k, 32 * (k + 1))
            return (x[0][part], x[1][part]), y[part]

    result = tuning.lr_find(model, Batches(), steps=20, start_lr=1e-5, end_lr=1e-1)
    assert len(result.losses) == 20 and not result.diverged  # 20 rates over 3 passes of 8 batches


@pytest.mark.parametrize("arguments, message", [
    ({"model": "not a model"}, "task must be one of"),
    ({"model": keras.Sequential([keras.layers.Dense(1)])}, "model must be a compiled keras.Model"),
])
def test_lr_find_refuses_what_it_cannot_sweep(arguments, message):
    with pytest.raises(ValueError, match=message):
        tuning.lr_find(**arguments, x=np.zeros((4, 1)), y=np.zeros((4, 1)))


def test_lr_find_on_a_saved_model_from_the_command_line(cli, tmp_path):
    model, x, y = _users_model()
    model.save(tmp_path / "mine.keras")
    np.savez(tmp_path / "data.npz", x_0=x[0], x_1=x[1], y=y)
    code, out, err = cli("lr-find", "mine.keras", "--data", "data.npz", "--steps", "30", "--start-lr", "1e-5",
                         "--end-lr", "1", "--json", "f.json")
    assert code == 0, err
    result = json.loads((tmp_path / "f.json").read_text())
    assert len(result["learning_rates"]) == len(result["losses"]) <= 30
    assert 1e-6 <= result["suggested_learning_rate"] <= 0.1
    assert (tmp_path / "mine.keras").stat().st_size > 0  # the saved model is read, never written
    assert any(p.name.startswith(tuple("0123456789")) and p.name.endswith("-mine")
               for p in (tmp_path / "logs" / "lr-find").iterdir())


def test_tune_on_a_saved_model_from_the_command_line(cli, tmp_path):
    line_model().save(tmp_path / "line.keras")
    x, y = line_data()
    np.savez(tmp_path / "line.npz", x=x[:160], y=y[:160], x_val=x[160:], y_val=y[160:])
    code, out, err = cli("tune", "line.keras", "--data", "line.npz", "--tuner", "grid", "--max-trials", "3",
                         "--max-epochs", "2", "--batch-size", "20", "--json", "t.json", "--save", "best.keras")
    assert code == 0, err
    result = json.loads((tmp_path / "t.json").read_text())
    assert len(result["trials"]) == 3 and result["objective"] == "val_loss"
    assert re.search(r"^trial 3/3  lr \S+  val_loss \S+  best \S+", out, re.M), out
    best = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert best.name == "line" and result["log_dir"].startswith(os.path.join("logs", "tune", "line"))


@pytest.mark.any_backend
@pytest.mark.parametrize("args, message", [
    (["lr-find", "mine.keras", "--data", "nope.npz"], "model file not found. Received: mine.keras"),
    (["lr-find", "model.keras", "--data", "data.csv"], "--data must be an .npz file with arrays x and y"),
    (["lr-find", "model.keras", "--data", "data.npz", "--batch-size", "0"],
     "--batch-size must be an integer >= 1. Received: 0\n"),
    (["lr-find", "model.keras", "--data", "data.npz", "--start-lr", "1", "--end-lr", "0.1"],
     "Received: start_lr=1.0, end_lr=0.1"),
])
def test_lr_find_on_a_saved_model_bad_input(cli, tmp_path, args, message):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=np.zeros((8, 1)), y=np.zeros((8, 1)))
    code, out, err = cli(*args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
