"""Polynomial regression trained from zeros with `compile`/`fit`, against float64 least squares.

`fit_polynomial` is the library form of `polykeras fit-poly`: it builds a
`PolynomialRegression` around the `Polynomial` layer, compiles it and trains
it with `fit`, then compares what the optimizer learned with the float64
least-squares optimum.

Example:

>>> from polykeras.data import synthetic_polynomial
>>> x, y = synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
>>> result = fit_polynomial(x, y, degree=2)
>>> bool(result.relative_coefficient_gap < 1e-3)
True
"""

import dataclasses
import math
import time

import keras
import numpy as np

from polykeras import backend
from polykeras.checks import check_int
from polykeras.data import check_xy
from polykeras.layers import (
    Polynomial,
    check_basis,
    check_degree,
    check_distinct,
    pad_coefficients,
    relative_gap,
)
from polykeras.optimizers import make_optimizer
from polykeras.polynomial_panel import PolynomialPanel
from polykeras.runs import new_run_dir
from polykeras.tensorboard import TensorBoard

# With the basis orthonormal on the data the loss's Hessian is 2 * I, so SGD at
# 0.4 shrinks the error fivefold every epoch (0.5 is the exact Newton step).
ORTHONORMAL_LEARNING_RATE = 0.4
# The seed program's rate, for the raw monomial basis.
MONOMIAL_LEARNING_RATE = 0.01
DEFAULT_EPOCHS = 20
# Keras spends ~2 ms of Python per epoch; longer full-batch runs are grouped
# so that `fit` sees at most this many Keras epochs, each running several
# descent steps inside one graph call (`PolynomialRegression.steps_per_batch`).
MAX_KERAS_EPOCHS = 50


@keras.saving.register_keras_serializable(package="polykeras")
class PolynomialRegression(keras.Model):
    """A model `x -> polynomial(x)` around one `Polynomial` layer, trained with `fit`.

    Its one extra over `keras.Model` serves full-batch gradient descent: when
    every batch is the whole data set, `steps_per_batch` descent steps can run
    on it inside one graph call, so a thousand-epoch run (the seed program's)
    does not pay Keras's per-epoch Python overhead a thousand times.

    Args:
        degree: The polynomial's degree (0 to 20).
        basis: `"legendre"`, `"chebyshev"` or `"monomial"`.
        orthonormalize: See `Polynomial`.
        steps_per_batch: Optimizer steps taken on each batch (default 1, the
            usual `fit`). Only meaningful when a batch holds all the data.
        dtype: The layer's dtype. float64 by default, so that the learned
            coefficients can be compared with float64 least squares even when
            x spans [0, 1000] and y reaches 1e7.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> model = PolynomialRegression(degree=2)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> [w.name for w in model.trainable_weights]
    ['coefficients']
    """

    # Its train_step puts the gradient norm in the logs (see polykeras.TensorBoard).
    reports_gradient_norms = True

    def __init__(self, degree, basis="legendre", orthonormalize=None, steps_per_batch=1, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        check_int(steps_per_batch, "steps_per_batch")
        self.steps_per_batch = int(steps_per_batch)
        self.on_features = False
        self.polynomial = Polynomial(degree, basis=basis, orthonormalize=orthonormalize, dtype=dtype, name="polynomial")
        self.polynomial.build((None,))
        self.built = True

    def call(self, inputs):
        # While `fit_polynomial` trains on the data's R factor, inputs are rows of basis features.
        return self.polynomial(inputs, features=self.on_features)

    def adapt(self, x):
        """Sets the layer's domain (and orthonormal basis) from `x`; see `Polynomial.adapt`."""
        self.polynomial.adapt(x)

    def train_step(self, *args):
        """`steps_per_batch` descent steps on the batch, the backend's way (see `polykeras.backend`).

        Logs the loss and the coefficients' gradient norm.
        """
        return backend.polynomial_train_step(self, *args)

    def get_config(self):
        layer = self.polynomial
        return {
            **super().get_config(),
            "degree": layer.degree,
            "basis": layer.basis,
            "orthonormalize": layer.orthonormalize,
            "steps_per_batch": self.steps_per_batch,
        }


def least_squares(x, y, degree):
    """The float64 least-squares polynomial by numpy.polynomial (SVD of the full design matrix).

    `fit_polynomial` computes its optimum from the data's streamed R factor
    instead; this is the independent check of it (the tests compare both).

    Returns:
        `numpy.polynomial.Polynomial` fitted with a domain mapping.
    """
    return np.polynomial.Polynomial.fit(x, y, degree)


def least_squares_coefficients(x, y, degree):
    """The least-squares optimum's power-basis coefficients, lowest degree first, float64."""
    return pad_coefficients(least_squares(x, y, degree).convert().coef, degree)


def default_learning_rate(basis, orthonormalize=None):
    """The default rate: 0.4 on an orthonormalised basis, the seed's 0.01 on raw monomials."""
    orthonormal = basis != "monomial" if orthonormalize is None else orthonormalize
    return ORTHONORMAL_LEARNING_RATE if orthonormal else MONOMIAL_LEARNING_RATE


def epoch_grouping(epochs, max_keras_epochs=MAX_KERAS_EPOCHS):
    """How many passes over the data each Keras epoch runs.

    Returns the smallest divisor of `epochs` that keeps `fit` at no more
    than `max_keras_epochs` Keras epochs (1 for short runs).
    """
    least = math.ceil(epochs / max_keras_epochs)
    return next(k for k in range(least, epochs + 1) if epochs % k == 0)


@dataclasses.dataclass
class PolynomialFit:
    """What `fit_polynomial` learned, beside the least-squares optimum."""

    model: keras.Model
    coefficients: np.ndarray
    least_squares_coefficients: np.ndarray
    relative_coefficient_gap: float
    mse: float
    least_squares_mse: float
    relative_mse_gap: float
    epochs: int
    passes_per_keras_epoch: int
    train_seconds: float
    history: dict
    log_dir: str = None  # the TensorBoard run folder, when logged

    def as_json(self):
        """The JSON-ready summary written by `fit-poly --json`."""
        return {
            "coefficients": self.coefficients.tolist(),
            "least_squares_coefficients": self.least_squares_coefficients.tolist(),
            "relative_coefficient_gap": self.relative_coefficient_gap,
            "mse": self.mse,
            "least_squares_mse": self.least_squares_mse,
            "relative_mse_gap": self.relative_mse_gap,
            "epochs": self.epochs,
            "train_seconds": self.train_seconds,
            "log_dir": self.log_dir,
        }


def polynomial_logger(log_dir, x, y, epochs, batch_size=None, reference=None):
    """The callback `fit-poly` uses: coefficients every epoch; histograms and pictures at start, middle and end.

    Its epochs take milliseconds, where reading a variable alone costs a
    tenth of one, so the heavier summaries are kept to three steps.

    Args:
        reference: The least-squares optimum's power-basis coefficients,
            for the gap to it (`fit_polynomial` computes it from the data's
            R factor).
    """
    full_batch = batch_size is None or batch_size >= len(x)  # fit_polynomial groups only full batches
    keras_epochs = epochs // epoch_grouping(epochs) if full_batch else epochs
    freq = max(1, keras_epochs // 2)
    return TensorBoard(
        log_dir,
        histogram_freq=freq,
        image_freq=freq,
        data=(x, y),
        panels=(PolynomialPanel(reference=reference), "weights", "update_ratios"),
    )


def check_polynomial_fit_args(x, y, degree, basis, optimizer, learning_rate, epochs, batch_size):
    """Validates everything `fit_polynomial` takes, before any training or writing."""
    check_degree(degree)
    check_basis(basis)
    x, y = check_xy(x, y)
    check_distinct(x, degree)
    check_int(epochs, "epochs")
    if batch_size is not None:
        check_int(batch_size, "batch_size")
    optimizer = make_optimizer(optimizer, learning_rate)
    return x, y, optimizer


def fit_polynomial(
    x,
    y,
    degree=2,
    basis="legendre",
    orthonormalize=None,
    optimizer="sgd",
    learning_rate=None,
    epochs=DEFAULT_EPOCHS,
    batch_size=None,
    callbacks=(),
    runs_dir=None,
    verbose=0,
    seed=0,
):
    """Learns a polynomial from zero-initialised coefficients with `compile`/`fit`.

    Args:
        x: Inputs, shape `(n,)`.
        y: Targets, shape `(n,)`.
        degree: The polynomial's degree (0 to 20).
        basis: `"legendre"` (default), `"chebyshev"` or `"monomial"`.
        orthonormalize: See `Polynomial`.
        optimizer: Name of a Keras optimizer.
        learning_rate: Defaults to 0.4 on an orthonormalised basis and to
            0.01 (the seed program's) on the raw monomial basis.
        epochs: Passes over the data; with the default batch (all the data)
            one pass is one optimizer step.
        batch_size: Points per step; defaults to the whole data set.
        callbacks: Keras callbacks for `fit`.
        runs_dir: If set (such as `"logs/fit-poly"`), every coefficient's walk
            from 0, the fitted curve and the weights are logged to a new run
            folder there (`polynomial_logger`); the
            result's `log_dir` names it.
        verbose: Keras's `fit` verbosity.
        seed: Seed for Keras and the shuffling of mini-batches.

    Returns:
        A `PolynomialFit`.

    Example:

    >>> x = np.linspace(-1, 1, 100)
    >>> result = fit_polynomial(x, 1 + 2 * x + 3 * x**2)
    >>> np.round(result.coefficients, 6).tolist()
    [1.0, 2.0, 3.0]
    """
    if learning_rate is None:
        learning_rate = default_learning_rate(basis, orthonormalize)
    x, y, optimizer = check_polynomial_fit_args(x, y, degree, basis, optimizer, learning_rate, epochs, batch_size)
    backend.set_random_seed(seed)
    batch_size = len(x) if batch_size is None else min(batch_size, len(x))
    steps_per_pass = math.ceil(len(x) / batch_size)
    passes = epoch_grouping(epochs) if steps_per_pass == 1 else 1

    model = PolynomialRegression(degree, basis=basis, orthonormalize=orthonormalize, steps_per_batch=passes)
    model.adapt(x)
    layer = model.polynomial
    r = layer.r_factor(x, y)
    optimum, optimum_mse = _least_squares(layer, r)
    log_dir = None
    if runs_dir is not None:
        log_dir = new_run_dir(runs_dir, f"{basis}-d{degree}")
        callbacks = [polynomial_logger(log_dir, x, y, epochs, batch_size, reference=optimum), *callbacks]
    inputs, targets = x, y
    if steps_per_pass == 1:
        # Full-batch descent sees the data only through its mean squared error, and R (d + 2 rows)
        # gives exactly that: each row scaled so that the mean over the rows is the MSE over the points.
        inputs, targets = r[:, :-1] * math.sqrt(len(r)), r[:, -1] * math.sqrt(len(r))
        model.on_features = True
    model.compile(
        optimizer=optimizer,
        # Keras losses compute in floatx (float32) unless told otherwise.
        loss=keras.losses.MeanSquaredError(dtype=layer.compute_dtype),
        steps_per_execution=backend.steps_per_execution(steps_per_pass),
    )
    start = time.perf_counter()
    try:
        history = model.fit(
            **backend.fit_inputs(inputs, targets, min(batch_size, len(inputs)), seed),
            epochs=epochs // passes,
            callbacks=list(callbacks),
            verbose=verbose,
            shuffle=False,  # the inputs shuffle mini-batches themselves
        )
    finally:
        model.on_features = False  # from now on the model takes x again
        for callback in callbacks:
            if hasattr(callback, "wait"):
                callback.wait()  # a fit that raised keeps the logs of the epochs before
    train_seconds = time.perf_counter() - start

    learned, lstsq, lstsq_mse = layer.coefficients(), optimum, optimum_mse
    mse = _mse(layer, r)
    return PolynomialFit(
        model=model,
        coefficients=learned,
        least_squares_coefficients=lstsq,
        relative_coefficient_gap=relative_gap(learned, lstsq),
        mse=mse,
        least_squares_mse=lstsq_mse,
        relative_mse_gap=(mse - lstsq_mse) / lstsq_mse if lstsq_mse > 0 else (0.0 if mse == 0 else math.inf),
        epochs=epochs,
        passes_per_keras_epoch=passes,
        train_seconds=train_seconds,
        history=history.history,
        log_dir=log_dir,
    )


def _split(layer, r):
    """`(A T, b, residual)` from the data's R factor `[[A, b], [0, residual]]` (`Polynomial.r_factor`).

    With `T` the basis transform, the model with trainable coefficients `c`
    has `MSE = |A T c - b|**2 + residual**2`: the optimum solves
    `A T c* = b` and its MSE is `residual**2`. Householder QR or Cholesky of
    a well-conditioned Gram matrix, without building the design matrix.
    """
    transform = np.eye(len(r) - 1)
    if layer.orthonormalize:
        transform = keras.ops.convert_to_numpy(layer.basis_transform).astype(np.float64)
    return r[:-1, :-1] @ transform, r[:-1, -1], r[-1, -1]


def _least_squares(layer, r):
    """The float64 least-squares optimum (power basis, original units) and its MSE, from R."""
    a, b, residual = _split(layer, r)
    return layer.power_basis_matrix() @ np.linalg.solve(a, b), float(residual**2)


def _mse(layer, r):
    """The model's mean squared error over all the points, from R."""
    a, b, residual = _split(layer, r)
    coefficients = keras.ops.convert_to_numpy(layer.basis_coefficients).astype(np.float64)
    return float(np.sum((a @ coefficients - b) ** 2) + residual**2)
