"""The backend's own way of training: gradients, the polynomial's train step, no TensorFlow under JAX,
and models that cross backends."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import BACKEND, BACKENDS

from polykeras import backend
from polykeras.data import synthetic_polynomial
from polykeras.demo import what_gets_a_gradient
from polykeras.polynomial import PolynomialRegression


def test_only_the_coefficients_get_a_gradient_and_it_is_the_analytic_one():
    x, y = synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
    rows = what_gets_a_gradient(x, y, degree=5)
    assert [(r["variable"], r["trainable"]) for r in rows] == [
        ("coefficients", True),
        ("domain_min", False),
        ("domain_max", False),
        ("basis_transform", False),
    ]
    assert [r["gradient_norm"] is None for r in rows] == [False, True, True, True]

    # At zero coefficients the MSE's gradient is -2/n M^T y, where column k of M is the model's output
    # with coefficient k set to 1 (the model is linear in its coefficients).
    model = PolynomialRegression(5)
    model.adapt(x)
    columns = []
    for k in range(6):
        model.polynomial.basis_coefficients.assign(np.eye(6)[k])
        columns.append(keras.ops.convert_to_numpy(model(x)))
    expected = -2 / len(x) * np.stack(columns, axis=1).T @ y
    # TensorFlow agrees to 1e-12. Keras's float64 loss differentiates 2e-8 away on JAX (measured), and on PyTorch
    # it divides by the number of points in float32 (Keras's type promotion), so 1e-7 there.
    np.testing.assert_allclose(
        rows[0]["gradient_norm"], np.linalg.norm(expected), rtol=1e-12 if BACKEND == "tensorflow" else 1e-7
    )


def test_each_pass_runs_on_its_backend_with_all_three_installed():
    """`make test` names each pass (POLYKERAS_TEST_PASS); the JAX-only pass checks its own install."""
    name = os.environ.get("POLYKERAS_TEST_PASS")
    if name is None:
        pytest.skip("run outside make test: no pass to check")
    import importlib.util

    installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    assert (backend.name(), installed) == (name, list(BACKENDS))


def _fresh(code, backend_name, cwd, *args, **env):
    """Runs `code` in a fresh process on `backend_name`; returns the JSON of its last line (and its stderr)."""
    env = {**os.environ, "KERAS_BACKEND": backend_name, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


# A user's own model with every part of polykeras at its defaults, then the built-in recipes.
NO_TENSORFLOW = """
import json, sys
import keras, numpy as np
import polykeras

model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)],
                         name="mine")
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1)
model.fit(x, y, epochs=2, verbose=0, callbacks=[polykeras.TensorBoard("logs/mine"), polykeras.Backup("backup")])
found = polykeras.lr_find(model, x, y, steps=20)
search = polykeras.search(model, x, y, tuner="random", max_trials=2, max_epochs=1, workers=1, directory="logs/tune")
fit = polykeras.fit_polynomial(*polykeras.synthetic_polynomial([1, 2, 3]), degree=5, runs_dir="logs/fit-poly")
*digits, _ = polykeras.load_mnist("sample")
mlp = polykeras.train_mnist(digits, epochs=1, hidden=(16,), augment=False, runs_dir="logs/train-mnist")
print(json.dumps({"tensorflow": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"),
                  "statuses": sorted(t["status"] for t in search.trials), "gap": fit.relative_coefficient_gap,
                  "accuracy": mlp.test_accuracy, "logs": [fit.log_dir, mlp.log_dir, "logs/mine"]}))
"""


@pytest.mark.any_backend("torch")  # in processes of their own, on JAX and PyTorch, with TensorFlow installed
@pytest.mark.parametrize("backend_name", ["jax", "torch"])
def test_jax_and_torch_train_log_sweep_and_search_without_importing_tensorflow(tmp_path, backend_name):
    """Every process: this one (its modules), and the chief and workers of the search (their import logs)."""
    result, _ = _fresh(NO_TENSORFLOW, backend_name, tmp_path, PYTHONPROFILEIMPORTTIME="1")
    assert result["tensorflow"] == []
    assert (
        result["statuses"] == ["COMPLETED", "COMPLETED"] and result["gap"] < 1e-3 and result["accuracy"] > 0.3
    )  # chance: 0.1
    for log_dir in result["logs"]:  # the event files were written, without TensorFlow
        assert any(name.startswith("events.out.tfevents.") for name in os.listdir(tmp_path / log_dir / "train"))
    logs = sorted((tmp_path / "logs" / "tune" / "mine" / "processes").glob("*.log"))
    assert [p.stem for p in logs] == ["chief", "tuner0"]
    for log in logs:  # Python's own record of every module each process imported
        imported = [
            line.rpartition("|")[2].strip() for line in log.read_text().splitlines() if line.startswith("import time:")
        ]
        assert "keras" in imported and backend_name in imported, log.name  # the record is there
        assert not [m for m in imported if m.split(".")[0] == "tensorflow"], log.name


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's x64 mode")
@pytest.mark.parametrize("setting, x64", [(None, True), ("0", False), ("false", False)])
def test_importing_polykeras_turns_jaxs_x64_mode_on_unless_jax_enable_x64_opts_out(setting, x64):
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    if setting is not None:
        env["JAX_ENABLE_X64"] = setting
    code = "import polykeras, jax, jax.numpy as jnp; print(jax.config.jax_enable_x64, jnp.zeros(1, 'float64').dtype)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.stdout == f"{x64} {'float64' if x64 else 'float32'}\n", done.stderr[-2000:]
