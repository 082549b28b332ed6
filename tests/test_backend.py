"""The backend's own way of training: gradients, the polynomial's train step, no TensorFlow under JAX,
and models that cross backends."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import BACKEND
from polykeras import backend
from polykeras.data import synthetic_polynomial
from polykeras.demo import what_gets_a_gradient
from polykeras.polynomial import PolynomialRegression


def test_only_the_coefficients_get_a_gradient_and_it_is_the_analytic_one():
    x, y = synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
    rows = what_gets_a_gradient(x, y, degree=5)
    assert [(r["variable"], r["trainable"]) for r in rows] == [
        ("coefficients", True), ("domain_min", False), ("domain_max", False), ("basis_transform", False)]
    assert [r["gradient_norm"] is None for r in rows] == [False, True, True, True]

    # At zero coefficients the MSE's gradient is -2/n M^T y, where column k of M is the model's output
    # with coefficient k set to 1 (the model is linear in its coefficients).
    model = PolynomialRegression(5)
    model.adapt(x)
    columns = []
    for k in range(6):
        model.polynomial.basis_coefficients.assign(np.eye(6)[k])
        columns.append(np.asarray(model(x)))
    expected = -2 / len(x) * np.stack(columns, axis=1).T @ y
    # TensorFlow agrees to 1e-12; Keras's float64 loss on JAX differentiates 2e-8 away (measured), so 1e-7.
    np.testing.assert_allclose(rows[0]["gradient_norm"], np.linalg.norm(expected), rtol=1e-12 if BACKEND == "tensorflow" else 1e-7)


def test_backend_name():
    assert backend.name() == BACKEND == os.environ.get("KERAS_BACKEND", "tensorflow")


def _fresh(code, backend_name, cwd):
    env = {**os.environ, "KERAS_BACKEND": backend_name, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


NO_TENSORFLOW = """
import json, sys
import polykeras
from polykeras import tuning
x, y = polykeras.synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
fit = polykeras.fit_polynomial(x, y, degree=5, runs_dir="logs/fit-poly")
*digits, _ = polykeras.load_mnist("sample")
mlp = polykeras.train_mnist(digits, epochs=1, hidden=(32,), augment=False, runs_dir="logs/train-mnist")
search = tuning.search("poly", tuner="random", max_trials=2, max_epochs=2, directory="logs/tune")
print(json.dumps({"tensorflow": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"),
                  "gap": fit.relative_coefficient_gap, "accuracy": mlp.test_accuracy,
                  "trials": sorted(t["trial_id"] for t in search.trials), "logs": [fit.log_dir, mlp.log_dir]}))
"""


@pytest.mark.any_backend("jax")
def test_jax_trains_logs_and_tunes_without_importing_tensorflow(tmp_path):
    result = _fresh(NO_TENSORFLOW, "jax", tmp_path)
    assert result["tensorflow"] == []
    assert result["gap"] < 1e-3 and result["accuracy"] > 0.5 and result["trials"] == ["0", "1"]  # chance: 0.1
    for log_dir in result["logs"]:  # the event files were written, without TensorFlow
        assert any(name.startswith("events.out.tfevents.") for name in os.listdir(tmp_path / log_dir / "train"))
    # KerasTuner gives each trial its own TensorBoard folder only on TensorFlow; polykeras does it on JAX too.
    board = tmp_path / "logs" / "tune" / "poly" / "tensorboard"
    assert sorted(p for p in os.listdir(board) if p.isdigit()) == ["0", "1"]


SAVE = """
import json, sys, numpy as np, polykeras
x, y = polykeras.synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
poly = polykeras.fit_polynomial(x, y, degree=5, epochs=5).model
poly.save("poly.keras")
*digits, _ = polykeras.load_mnist("sample")
mlp = polykeras.train_mnist(digits, epochs=1, hidden=(32,)).model
mlp.save("mlp.keras")
grid = np.linspace(-1, 1, 7)
print(json.dumps({"poly": np.asarray(poly.predict(grid, verbose=0)).tolist(),
                  "mlp": np.asarray(mlp.predict(digits[1][0][:50], verbose=0)).tolist()}))
"""

LOAD = """
import json, keras, numpy as np, polykeras
*digits, _ = polykeras.load_mnist("sample")
poly = keras.saving.load_model("poly.keras", safe_mode=True)
mlp = keras.saving.load_model("mlp.keras", safe_mode=True)
grid = np.linspace(-1, 1, 7)
print(json.dumps({"poly": np.asarray(poly.predict(grid, verbose=0)).tolist(),
                  "mlp": np.asarray(mlp.predict(digits[1][0][:50], verbose=0)).tolist(),
                  "dtype": poly.polynomial.basis_coefficients.dtype}))
"""


@pytest.mark.any_backend  # its four processes pick their own backends; in the TensorFlow pass, which is shorter
def test_models_cross_backends_both_ways(tmp_path):
    for source, target in (("tensorflow", "jax"), ("jax", "tensorflow")):
        folder = tmp_path / f"{source}-to-{target}"
        folder.mkdir()
        saved = _fresh(SAVE, source, folder)
        loaded = _fresh(LOAD, target, folder)
        assert loaded["dtype"] == "float64"
        np.testing.assert_allclose(loaded["poly"], saved["poly"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(loaded["mlp"], saved["mlp"], rtol=0, atol=1e-5)
