"""polykeras[jax] alone, as a JAX user installs it: no TensorFlow and no PyTorch (make test's JAX-only pass)."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import read_run

pytestmark = pytest.mark.without_tensorflow


def test_only_jax_is_installed_and_keras_runs_on_it():
    from polykeras import backend

    assert [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None] == ["jax"]
    assert backend.name() == "jax" and "tensorflow" not in sys.modules


def test_a_users_model_is_watched_backed_up_swept_and_searched_by_two_workers(tmp_path):
    import polykeras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)], name="mine"
    )
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1)
    backup = polykeras.Backup(tmp_path / "backup", delete_checkpoint=False, budget=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[polykeras.TensorBoard(tmp_path / "logs"), backup])
    # At its defaults: Keras's tags, the graph (write_graph), histograms and the panels that need no data.
    run = read_run(tmp_path / "logs" / "train")
    kernel = model.layers[0].kernel.path  # mine/dense/kernel
    assert {
        "epoch_loss",
        "epoch_accuracy",
        "keras",
        f"{kernel}/histogram",
        f"update_ratio/{kernel}",
        f"weight_norm/{kernel.rpartition('/')[0]}",
    } <= set(run)
    assert backup.saved_epochs == [1, 2]

    found = polykeras.lr_find(model, x, y, steps=30, start_lr=1e-4, end_lr=10)
    assert len(found.losses) >= 10 and 1e-4 < found.suggestion < 10

    result = polykeras.search(
        model, x, y, tuner="random", max_trials=2, max_epochs=1, workers=2, directory=str(tmp_path / "tune")
    )
    assert sorted(t["status"] for t in result.trials) == ["COMPLETED", "COMPLETED"]
    assert "tensorflow" not in sys.modules


def _polykeras(*args, cwd, **env):
    """`polykeras ARGS` as a user runs it: no backend named but in `env`, a Keras home with no `keras.json`."""
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return subprocess.run(
        [sys.executable, "-m", "polykeras_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**environment, "KERAS_HOME": str(cwd / "keras-home"), **env},
        timeout=300,
    )


def test_the_command_line_runs_on_jax_and_names_the_extras_of_the_backends_that_are_missing(tmp_path):
    done = _polykeras("fit-poly", "--no-log", "--json", "f.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == "backend: jax"  # chosen for the user, and said so in one line
    assert done.stderr.splitlines() == [
        "warning: polykeras: no Keras backend is named (KERAS_BACKEND, keras.json) and TensorFlow is not "
        "installed: using jax (set KERAS_BACKEND to choose)"
    ]
    # Keras wrote its keras.json on that first run, naming its default: TensorFlow, which is not installed.
    assert json.loads((tmp_path / "keras-home" / "keras.json").read_text())["backend"] == "tensorflow"
    done = _polykeras("fit-poly", "--no-log", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr.splitlines() == [
        "warning: polykeras: keras.json names tensorflow, which is not installed: using jax (set KERAS_BACKEND to "
        "choose)"
    ], done.stderr[-2000:]
    assert json.loads((tmp_path / "f.json").read_text())["relative_coefficient_gap"] < 1e-3
    for args, env, received in (
        (["fit-poly"], {"KERAS_BACKEND": "tensorflow"}, "KERAS_BACKEND=tensorflow"),
        (["--backend", "torch", "fit-poly"], {}, "--backend torch"),
    ):
        done = _polykeras(*args, "--json", "g.json", cwd=tmp_path, **env)
        name = received.rpartition(" ")[2].rpartition("=")[2]
        assert done.returncode == 2 and done.stderr == (
            f"error: the {name} backend is not installed: pip install 'polykeras[{name}]'; or choose one that is "
            f"installed: jax. Received: {received}\n"
        ), done.stderr
    assert sorted(os.listdir(tmp_path)) == ["f.json", "keras-home"]  # nothing written by the refused runs


def test_the_seed_program_alone_needs_tensorflow_and_names_its_extra():
    from polykeras.seed import run_seed_program

    with pytest.raises(
        ImportError, match=r"^the TF1 seed program needs TensorFlow, .*pip install 'polykeras\[tensorflow\]'$"
    ):
        run_seed_program(np.linspace(-1, 1, 10), np.ones(10), steps=1)
