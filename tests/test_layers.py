"""The Polynomial layer: values, shapes, config, weights, adapt, save/load."""

import keras
import numpy as np
import pytest
from helpers import run_python
from numpy.polynomial import chebyshev, legendre

from polykeras.layers import BASES, Polynomial


def built(degree, basis, **kwargs):
    layer = Polynomial(degree, basis=basis, dtype="float64", **kwargs)
    layer.build((None,))
    return layer


def test_hand_computed_value():
    # 1 + 2 * 2 + 3 * 2**2 = 17
    layer = built(2, "monomial")
    layer.basis_coefficients.assign([1.0, 2.0, 3.0])
    assert float(layer(np.array([2.0]))[0]) == 17.0


@pytest.mark.parametrize(
    "basis, reference",
    [
        ("legendre", lambda t, c: legendre.legval(t, c * np.sqrt(2 * np.arange(len(c)) + 1))),
        ("chebyshev", lambda t, c: chebyshev.chebval(t, c * np.r_[1.0, np.full(len(c) - 1, np.sqrt(2))])),
        ("monomial", lambda t, c: np.polynomial.polynomial.polyval(t, c)),
    ],
)
def test_basis_values_match_numpy(basis, reference):
    c = np.array([0.5, -1.0, 2.0, 0.25, -0.75])
    layer = built(4, basis, orthonormalize=False)
    layer.basis_coefficients.assign(c)
    t = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(t)), reference(t, c), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(5,), (5, 1)])
def test_output_shape_follows_input(shape):
    layer = built(3, "legendre")
    assert tuple(layer(np.zeros(shape)).shape) == shape
    assert layer.compute_output_shape(shape) == shape


def test_rejects_inputs_with_more_than_one_feature():
    with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 3\)"):
        Polynomial(2).build((None, 3))


def test_coefficients_start_at_zero():
    layer = built(5, "legendre")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.basis_coefficients.value), np.zeros(6))
    np.testing.assert_array_equal(layer.coefficients(), np.zeros(6))


def test_trainable_and_non_trainable_weights():
    model = keras.Sequential([keras.Input(shape=()), Polynomial(3)])
    assert [w.name for w in model.trainable_weights] == ["coefficients"]
    assert sorted(w.name for w in model.non_trainable_weights) == ["basis_transform", "domain_max", "domain_min"]
    monomial = keras.Sequential([keras.Input(shape=()), Polynomial(3, basis="monomial")])
    assert sorted(w.name for w in monomial.non_trainable_weights) == ["domain_max", "domain_min"]


def test_domain_is_identity_until_adapt():
    layer = built(2, "monomial")
    layer.basis_coefficients.assign([0.0, 1.0, 0.0])
    x = np.array([-3.0, 0.5, 10.0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    layer.adapt(np.array([0.0, 10.0, 4.0]))
    assert (float(layer.domain_min), float(layer.domain_max)) == (0.0, 10.0)


@pytest.mark.parametrize("basis", ["legendre", "chebyshev"])
def test_adapt_orthonormalises_the_basis_on_clustered_data(basis):
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(100.0, 1.0, 900), rng.uniform(0.0, 1000.0, 100)]
    layer = built(6, basis)
    layer.adapt(x)
    # Column j of the basis is the layer's output with coefficients e_j.
    columns = []
    for j in range(7):
        layer.basis_coefficients.assign(np.eye(7)[j])
        columns.append(keras.ops.convert_to_numpy(layer(x)))
    gram = np.stack(columns, axis=1).T @ np.stack(columns, axis=1) / len(x)
    np.testing.assert_allclose(gram, np.eye(7), atol=1e-8)


@pytest.mark.parametrize("basis", BASES)
def test_coefficients_are_power_basis_in_original_units(basis):
    x = np.linspace(50.0, 70.0, 40)
    layer = built(3, basis)
    layer.adapt(x)
    layer.basis_coefficients.assign([0.3, -1.2, 0.8, 2.0])
    power = layer.coefficients()
    assert power.dtype == np.float64
    np.testing.assert_allclose(
        np.polynomial.polynomial.polyval(x, power), keras.ops.convert_to_numpy(layer(x)), rtol=1e-9
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"degree": -1}, "Received: degree=-1"),
        ({"degree": 2.5}, "Received: degree=2.5"),
        ({"degree": True}, "Received: degree=True"),
        ({"degree": 21}, "Received: degree=21"),
        ({"degree": 2, "basis": "hermite"}, "Received: basis='hermite'"),
        ({"degree": 2, "orthonormalize": "yes"}, "Received: orthonormalize='yes'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Polynomial(**kwargs)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.array([1.0, np.nan, 2.0, 3.0]), "x must be finite"),
        (np.full(10, 3.0), r"must not be constant .* x=3.0 everywhere"),
        (np.array([1.0, 2.0, 2.0, 1.0]), "needs at least 4 distinct x values. Received: 2"),
    ],
)
def test_adapt_rejects_bad_x(x, message):
    with pytest.raises(ValueError, match=message):
        Polynomial(3).adapt(x)


def test_config_round_trip():
    layer = Polynomial(4, basis="chebyshev", coefficients_initializer="ones", name="p")
    config = layer.get_config()
    assert {k: config[k] for k in ("degree", "basis", "orthonormalize")} == {
        "degree": 4,
        "basis": "chebyshev",
        "orthonormalize": True,
    }
    clone = Polynomial.from_config(config)
    assert clone.get_config() == config
    clone.build((None,))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone.basis_coefficients.value), np.ones(5))


@pytest.mark.any_backend("torch")  # the layer's config; models crossing backends: test_backend.py
def test_save_and_load_in_a_fresh_process(tmp_path):
    from polykeras.polynomial import fit_polynomial

    x = np.linspace(3.0, 9.0, 50)
    result = fit_polynomial(x, np.sin(x), degree=4, epochs=5)
    path = tmp_path / "poly.keras"
    result.model.save(path)
    probe = np.linspace(3.0, 9.0, 11)
    np.save(tmp_path / "expected.npy", result.model.predict(probe, verbose=0))
    code = f"""
import numpy as np, keras, polykeras
model = keras.saving.load_model({str(path)!r}, safe_mode=True)
expected = np.load({str(tmp_path / "expected.npy")!r})
got = model.predict(np.linspace(3.0, 9.0, 11), verbose=0)
assert np.array_equal(got, expected), (got, expected)
layer = model.get_layer("polynomial")
print(type(layer).__module__, layer.basis, [w.name for w in model.trainable_weights])
"""
    done = run_python(code, KERAS_BACKEND=keras.backend.backend())  # the same predictions: the same backend
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["polykeras.layers", "legendre", "['coefficients']"]


@pytest.mark.parametrize("n", [3, 5000])  # 3 points: a singular Gram matrix, so the Householder fallback
def test_r_factor_is_the_r_of_a_qr_of_the_features_and_y(n):
    rng = np.random.default_rng(n)
    x, y = rng.uniform(0.0, 10.0, n), rng.normal(size=n)
    layer = built(2, "legendre")
    layer.adapt(x)
    features = layer._features((2 * x - (x.min() + x.max())) / (x.max() - x.min()), np)
    expected = np.zeros((4, 4))
    qr = np.linalg.qr(np.column_stack([features, y]) / np.sqrt(n), mode="r")
    expected[: len(qr)] = qr
    if n == 3:  # the fallback really runs: Cholesky refuses this Gram matrix
        block = np.column_stack([features, y])
        with pytest.raises(np.linalg.LinAlgError):
            np.linalg.cholesky(block.T @ block / n)
    r = layer.r_factor(x, y)
    # R is unique up to the sign of each row.
    np.testing.assert_allclose(np.abs(r), np.abs(expected), atol=1e-10)
    assert np.allclose(np.triu(r), r)
