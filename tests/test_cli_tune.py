"""`polykeras tune`: results, JSON, resume, HParams in a real TensorBoard, a saved model, and bad input."""

import json
import os
import re
import socket
import time
import urllib.request

import keras
import numpy as np
import pytest
from test_search_run import line_data, line_model

POLY_ARGS = ["tune", "poly", "--max-epochs", "4", "--seed", "3"]


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
    assert code == 0 and re.findall(r"^trial \d+ \((\d) of 5 done\)", out, re.M) == ["4", "5"], out  # the new two
    more = json.loads((tmp_path / "c.json").read_text())["trials"]
    assert len(more) == 5 and all(t in more for t in first["trials"])
    assert all(p.read_bytes() == content for p, content in saved.items())


def _post(base, path, payload):
    request = urllib.request.Request(
        base + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.any_backend("torch")  # TensorBoard's reading of the search's logs; the search on each backend: above
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
            groups = _post(
                base,
                "data/plugin/hparams/session_groups",
                {
                    "experimentName": "",
                    "startIndex": 0,
                    "sliceSize": 100,
                    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                    "colParams": [
                        {"hparam": "learning_rate"},
                        {"metric": {"tag": "epoch_loss", "group": "validation"}},
                    ],
                },
            )
            if len(groups.get("sessionGroups", [])) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        rate = next(h for h in experiment["hparamInfos"] if h["name"] == "learning_rate")
        assert rate["domainInterval"] == {"minValue": 1e-3, "maxValue": 1.0}
        assert {"tag": "epoch_loss", "group": "validation"} in [m["name"] for m in experiment["metricInfos"]]
        seen = {
            round(g["hparams"]["learning_rate"], 12): g["metricValues"][0]["value"] for g in groups["sessionGroups"]
        }
        expected = {round(t["hyperparameters"]["learning_rate"], 12): t["score"] for t in trials}
        assert seen.keys() == expected.keys()
        for rate_value, score in expected.items():
            assert seen[rate_value] == pytest.approx(score, rel=1e-5)
    finally:
        _stop_tensorboard(server)


# ----------------------------------------------------------------------------
# The learning-rate range test


@pytest.mark.any_backend  # the command line's flags; training on each backend is tested above
def test_tune_searches_optimizers_in_a_named_project_and_saves_the_best(cli, tmp_path):
    args = [
        *POLY_ARGS,
        "--tuner",
        "random",
        "--max-trials",
        "4",
        "--optimizers",
        "sgd,adam",
        "--project-name",
        "mine",
        "--json",
        "t.json",
    ]
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
    assert (
        code == 2 and err == "error: --save target exists; pass --overwrite-save to replace it. Received: best.keras\n"
    )
    assert (tmp_path / "best.keras").read_bytes() == before
    os.utime(tmp_path / "best.keras", ns=(0, 0))  # so that a file left in place shows
    code, out, err = cli(*args, "--save", "best.keras", "--overwrite-save")
    assert code == 0, err
    assert not re.search(r"^trial \d", out, re.M) and "model (best, retrained for 4 epochs): best.keras" in out
    # Written again, by the same retraining (same trial, same seed): the same weights, a new file.
    again = keras.saving.load_model(tmp_path / "best.keras")
    assert (tmp_path / "best.keras").stat().st_mtime_ns > 0
    for a, b in zip(again.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.any_backend  # the command line's flags; training on each backend is tested above
def test_tune_mnist(cli, tmp_path):
    code, _out, err = cli(
        "tune",
        "mnist",
        "--data",
        "sample",
        "--tuner",
        "random",
        "--max-trials",
        "2",
        "--max-epochs",
        "1",
        "--json",
        "m.json",
    )
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
    assert low == pytest.approx(suggestion / 10, rel=2e-3) and high == pytest.approx(
        min(1.0, suggestion * 10), rel=2e-3
    )


TUNE_BAD_INPUT = [
    (["tune", "cnn"], "argument task: invalid choice: 'cnn'"),
    (["tune", "poly", "--batch-size", "8"], "--batch-size applies to PATH.keras, not to poly"),
    (["tune", "mine.keras", "--data", "nope.npz"], "model file not found. Received: mine.keras"),
    (["tune", "poly", "--tuner", "annealing"], "argument --tuner: invalid choice: 'annealing'"),
    (["tune", "poly", "--max-trials", "0"], "--max-trials must be an integer >= 1. Received: 0"),
    (["tune", "poly", "--max-epochs", "-1"], "--max-epochs must be an integer >= 1. Received: -1"),
    (["tune", "poly", "--directory", "/proc/polykeras-tune"], "--directory cannot be written"),
    (["tune", "poly", "--workers", "2", "--devices", "0,,1"], "argument --devices: invalid device list: '0,,1'"),
]


@pytest.mark.any_backend
@pytest.mark.parametrize("args, message", TUNE_BAD_INPUT, ids=[" ".join(a) for a, _ in TUNE_BAD_INPUT])
def test_tune_bad_input(cli, tmp_path, args, message):
    code, _out, err = cli(*args)
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


def test_tune_on_a_saved_model_from_the_command_line(cli, tmp_path):
    line_model().save(tmp_path / "line.keras")
    x, y = line_data()
    np.savez(tmp_path / "line.npz", x=x[:160], y=y[:160], x_val=x[160:], y_val=y[160:])
    code, out, err = cli(
        "tune",
        "line.keras",
        "--data",
        "line.npz",
        "--tuner",
        "grid",
        "--max-trials",
        "3",
        "--max-epochs",
        "2",
        "--batch-size",
        "20",
        "--json",
        "t.json",
        "--save",
        "best.keras",
    )
    assert code == 0, err
    result = json.loads((tmp_path / "t.json").read_text())
    assert len(result["trials"]) == 3 and result["objective"] == "val_loss"
    assert re.search(r"^trial \d+ \(3 of 3 done\)  lr \S+  val_loss \S+  best \S+", out, re.M), out
    best = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert best.name == "line" and result["log_dir"].startswith(os.path.join("logs", "tune", "line"))
