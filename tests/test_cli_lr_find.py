"""`polykeras lr-find`: on a saved model with Keras's keys and a rule, on the MNIST task, and bad input."""

import json

import keras
import numpy as np
import pytest
from helpers import functional_with_batchnorm, read_run, regression_data

from polykeras.lr_finder import rules

L = keras.layers


@pytest.mark.any_backend("torch")  # the command line's flags; the sweep on each backend is tested above
def test_lr_find_on_a_saved_model_with_kerass_keys_and_a_rule(cli, tmp_path):
    model = functional_with_batchnorm()
    model.save(tmp_path / "mine.keras")
    x, y = regression_data(2, n=256)
    before = (tmp_path / "mine.keras").read_bytes()
    np.savez(
        tmp_path / "data.npz",
        x_train_0=x[0],
        x_train_1=x[1],
        y_train=y,
        x_test_0=x[0][:8],
        x_test_1=x[1][:8],
        y_test=y[:8],
    )
    code, out, err = cli(
        "lr-find",
        "mine.keras",
        "--data",
        "data.npz",
        "--steps",
        "30",
        "--start-lr",
        "1e-5",
        "--end-lr",
        "1",
        "--suggest",
        "steepest",
        "--json",
        "f.json",
        "--plot",
        "f.png",
    )
    assert code == 0, err
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["rule"] == "steepest" and set(result["suggestions"]) == set(rules.RULES)
    assert len(result["learning_rates"]) <= 30 and result["validation"] == "a random 20 % of x, held out (seed 0)"
    checked = {c["source"]: c["rate"] for c in result["candidates"]}
    assert "steepest" in checked and {"steepest / 3", "steepest x 3"} <= set(checked)  # the rule's neighbours
    best = min(result["candidates"], key=lambda c: c["score"])
    kept = min(
        (c for c in result["candidates"] if c["score"] <= best["score"] + best["error"]), key=lambda c: c["rate"]
    )
    assert result["suggested_learning_rate"] == kept["rate"] and best["error"] > 0
    assert result["check_steps"] == sum(c["steps"] for c in result["candidates"]) > 0
    said = f"suggested learning rate: {kept['rate']:.3g} (the lowest rate within one standard error of the best "
    assert said + f"validation loss, of {len(checked)} candidates" in out
    assert f"\n{kept['source']} (suggested)" in out.replace("  ", "")  # the check's table marks it
    assert (tmp_path / "mine.keras").read_bytes() == before  # the saved model is read, never written
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    run = read_run(str(next((tmp_path / "logs" / "lr-find").iterdir()) / "train"))
    assert {
        "lr_find/loss",
        "lr_find/smoothed_loss",
        "lr_find/loss_vs_rate",
        *(f"lr_find/suggestion/{rule}" for rule in rules.RULES),
    } <= set(run)


@pytest.mark.any_backend("torch")  # the command line's flags; the sweep on each backend is tested above
def test_lr_find_mnist_from_the_command_line(cli, tmp_path):
    code, out, err = cli("lr-find", "mnist", "--data", "sample", "--steps", "20", "--json", "m.json", "--no-log")
    assert code == 0, err
    result = json.loads((tmp_path / "m.json").read_text())
    rates, losses = result["learning_rates"], result["losses"]
    assert 10 <= len(rates) == len(losses) <= 20 and rates[0] == pytest.approx(1e-6)  # to 1, or diverged
    np.testing.assert_allclose(np.diff(np.log10(rates)), 6 / 19, rtol=1e-6)
    assert losses[0] > 2.0  # an untrained 10-class classifier: about ln 10 = 2.3
    assert 1e-6 < result["suggested_learning_rate"] <= 0.1 and result["rule"] == rules.DEFAULT_RULE
    assert f"suggested learning rate: {result['suggested_learning_rate']:.3g} " in out
    assert not (tmp_path / "logs").exists()


@pytest.mark.any_backend("torch")
def test_the_command_lines_rules_are_the_librarys():
    from polykeras_cli.lr_find import SUGGESTION_RULES

    assert SUGGESTION_RULES == tuple(rules.RULES) and SUGGESTION_RULES[0] == rules.DEFAULT_RULE


LR_FIND_BAD_INPUT = [
    (["lr-find", "poly", "--steps", "1"], "--steps must be an integer >= 2. Received: 1"),
    (["lr-find", "poly", "--suggest", "nope"], "argument --suggest: invalid choice: 'nope'"),
    (["lr-find", "nope"], "argument task: invalid choice: 'nope'"),
    (["lr-find", "mine.keras", "--data", "nope.npz"], "model file not found. Received: mine.keras"),
    (["lr-find", "model.keras", "--data", "data.csv"], "--data must be an .npz file with arrays x and y"),
    (
        ["lr-find", "model.keras", "--data", "keys.npz"],
        "--data must hold arrays x (or x_0, x_1, ..., or Keras's x_train)",
    ),
    (
        ["lr-find", "model.keras", "--data", "data.npz", "--batch-size", "0"],
        "--batch-size must be an integer >= 1. Received: 0\n",
    ),
    (
        ["lr-find", "model.keras", "--data", "data.npz", "--start-lr", "1", "--end-lr", "0.1"],
        "--start-lr and --end-lr must satisfy 0 < start < end. Received: 1.0 and 0.1",
    ),
    (["lr-find", "poly", "--start-lr", "0.1"], "--start-lr applies to PATH.keras, not to poly"),
    (["lr-find", "mnist", "--batch-size", "8"], "--batch-size applies to PATH.keras, not to mnist"),
    (["lr-find", "poly", "--data", "x.npz"], "--data applies to mnist and PATH.keras; poly makes its own"),
    (["lr-find", "poly", "--no-check", "--check-steps", "5"], "--check-steps applies to the check, which --no-check"),
    (["lr-find", "poly", "--check-steps", "0"], "--check-steps must be an integer >= 1. Received: 0"),
    (["lr-find", "model.keras"], "--data must name an .npz file of arrays for model.keras. Received: no --data"),
    (["lr-find", "mnist", "--data", "nowhere.npz"], "MNIST file not found. Received: nowhere.npz"),
]


@pytest.mark.any_backend("torch")
@pytest.mark.parametrize("args, message", LR_FIND_BAD_INPUT, ids=[" ".join(a) for a, _ in LR_FIND_BAD_INPUT])
def test_lr_find_bad_input(cli, tmp_path, args, message):
    model = keras.Sequential([keras.Input((1,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=np.zeros((64, 1)), y=np.zeros((64, 1)))
    np.savez(tmp_path / "keys.npz", images=np.zeros((64, 1)))
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _out, err = cli(*args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run folder, no JSON


@pytest.mark.any_backend("torch")
def test_no_check_gives_the_rules_pick_and_trains_no_candidate(cli, tmp_path):
    code, out, err = cli("lr-find", "poly", "--steps", "40", "--no-check", "--json", "p.json", "--no-log")
    assert code == 0, err
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["suggested_learning_rate"] == result["suggestions"]["descent"] and result["candidates"] == []
    assert result["check_steps"] == 0 and result["validation"] is None and "the check:" not in out
