"""fit_polynomial: convergence from zeros against float64 least squares, and seed parity."""

import keras
import numpy as np
import pytest

from polykeras import backend
from polykeras.data import synthetic_polynomial
from polykeras.polynomial import (
    PolynomialRegression,
    epoch_grouping,
    fit_polynomial,
    least_squares,
    least_squares_coefficients,
    relative_gap,
)
from polykeras.seed import run_seed_program


def sample_x(low, high, spread, n, rng):
    if spread == "uniform":
        return rng.uniform(low, high, n)
    # 90 % of the points in a narrow cluster near one end, the rest spread out.
    width = high - low
    cluster = rng.normal(low + 0.15 * width, 0.01 * width, int(0.9 * n))
    return np.clip(np.r_[cluster, rng.uniform(low, high, n - len(cluster))], low, high)


@pytest.mark.parametrize("low, high", [(0.0, 1000.0), (-3.0, 7.0), (-1.0, 1.0)])
@pytest.mark.parametrize("spread", ["uniform", "clustered"])
@pytest.mark.parametrize("degree", [0, 1, 4, 8])
def test_defaults_converge_to_least_squares(low, high, spread, degree):
    rng = np.random.default_rng(degree)
    x = sample_x(low, high, spread, 1000, rng)
    # Terms of comparable size over the range: c_k = r_k / max|x|**k.
    scale = max(abs(low), abs(high))
    true = rng.normal(size=degree + 1) * 10.0 / scale ** np.arange(degree + 1)
    y = np.polynomial.polynomial.polyval(x, true) + 0.1 * rng.standard_normal(len(x))
    result = fit_polynomial(x, y, degree=degree)
    assert result.epochs <= 25
    assert result.relative_coefficient_gap <= 1e-3
    assert result.relative_mse_gap <= 1e-3
    # Both come from the data's R factor: checked against numpy's least squares and a direct evaluation.
    assert relative_gap(result.least_squares_coefficients, least_squares_coefficients(x, y, degree)) <= 1e-8
    np.testing.assert_allclose(result.least_squares_mse, np.mean((least_squares(x, y, degree)(x) - y) ** 2), rtol=1e-8)
    np.testing.assert_allclose(result.mse, np.mean((result.model.polynomial.polynomial()(x) - y) ** 2), rtol=1e-8)


def test_wide_range_with_the_seed_polynomial():
    x, y = synthetic_polynomial([1, 2, 3], samples=1000, x_range=(0.0, 1000.0))
    result = fit_polynomial(x, y, degree=8)
    assert result.relative_coefficient_gap <= 1e-3
    assert result.relative_mse_gap <= 1e-3
    np.testing.assert_allclose(result.coefficients[:3], [1, 2, 3], rtol=0.05)


def test_seed_parity_with_the_tf1_program():
    x, y = synthetic_polynomial([1, 2, 3], samples=100, noise=0.1, x_range=(-1.0, 1.0), seed=0)
    seed_w, _ = run_seed_program(x, y, num_coeffs=6, learning_rate=0.01, steps=1000)
    result = fit_polynomial(x, y, degree=5, basis="monomial", optimizer="sgd", learning_rate=0.01, epochs=1000)
    np.testing.assert_allclose(result.coefficients, seed_w, atol=1e-4, rtol=0)
    # ... and both are still far from the optimum: the seed's point about slow plain GD.
    assert result.relative_coefficient_gap > 0.3


def test_minibatches_also_converge():
    x, y = synthetic_polynomial([1, -2, 0.5], samples=200, x_range=(-2.0, 5.0))
    result = fit_polynomial(x, y, degree=2, batch_size=32, learning_rate=0.1, epochs=30)
    assert result.relative_coefficient_gap <= 1e-2


@pytest.mark.parametrize("epochs", [20, 1000])
def test_logged_loss_is_the_mse_before_each_step(epochs):
    x, y = synthetic_polynomial([1, 2, 3])
    result = fit_polynomial(x, y, degree=2, epochs=epochs, learning_rate=0.4 if epochs == 20 else 0.001)
    losses = result.history["loss"]
    assert len(losses) == epochs // result.passes_per_keras_epoch
    # At zero the model predicts 0, so the first step's loss is mean(y^2).
    if result.passes_per_keras_epoch == 1:
        assert losses[0] == pytest.approx(np.mean(y**2), rel=1e-6)  # Keras metrics are float32
    assert losses[0] > losses[-1] > 0
    assert losses[-1] == pytest.approx(result.mse, rel=0.05)


def test_trains_only_the_coefficients():
    x, y = synthetic_polynomial([1, 2, 3], x_range=(10.0, 20.0))
    result = fit_polynomial(x, y, degree=2, epochs=3)
    layer = result.model.get_layer("polynomial")
    assert (float(layer.domain_min), float(layer.domain_max)) == (10.0, 20.0)
    assert [w.name for w in result.model.trainable_weights] == ["coefficients"]


@pytest.mark.parametrize("epochs, passes", [(20, 1), (50, 1), (51, 3), (1000, 20), (997, 997)])
def test_epoch_grouping(epochs, passes):
    assert epoch_grouping(epochs) == passes


def test_least_squares_reference():
    x = np.linspace(-1, 1, 20)
    fitted = least_squares(x, 1 + 2 * x + 3 * x**2, 2).convert().coef
    np.testing.assert_allclose(fitted, [1, 2, 3], atol=1e-12)


def test_polynomial_model_is_float64():
    model = PolynomialRegression(3)
    assert model.get_layer("polynomial").compute_dtype == "float64"


def test_steps_per_batch_is_the_same_descent_as_separate_epochs():
    x, y = synthetic_polynomial([1, 2, 3], x_range=(-2.0, 3.0))
    grouped = fit_polynomial(x, y, degree=3, basis="monomial", learning_rate=0.005, epochs=200)
    assert grouped.passes_per_keras_epoch == 4
    model = PolynomialRegression(3, basis="monomial")
    model.adapt(x)
    model.compile(optimizer=keras.optimizers.SGD(0.005), loss=keras.losses.MeanSquaredError(dtype="float64"))
    # Plain fit, one Keras epoch per step, on the same float64 batches.
    model.fit(**backend.fit_inputs(x, y, len(x), seed=0), epochs=200, shuffle=False, verbose=0)
    # The same arithmetic up to rounding: XLA (JAX) may order a fused sum differently.
    np.testing.assert_allclose(grouped.coefficients, model.polynomial.coefficients(), rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "nope"}, "Received: optimizer='nope'"),
        ({"learning_rate": -1.0}, "Received: learning_rate=-1.0"),
        ({"epochs": 0}, "Received: epochs=0"),
        ({"batch_size": 0}, "Received: batch_size=0"),
        ({"degree": 50}, "Received: degree=50"),
    ],
)
def test_fit_polynomial_rejects_bad_arguments(kwargs, message):
    x = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match=message):
        fit_polynomial(x, x, **{"degree": 2, **kwargs})


def test_fit_polynomial_rejects_non_finite_y():
    x = np.linspace(0, 1, 10)
    y = x.copy()
    y[3] = np.inf
    with pytest.raises(ValueError, match=r"Received: y\[3\]=inf"):
        fit_polynomial(x, y, degree=2)
