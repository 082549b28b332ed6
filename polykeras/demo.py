"""What `polykeras demo` shows, as library calls: the seed's problem two ways, then zero init on a network.

Example:

>>> from polykeras.data import load_mnist
>>> *digits, _ = load_mnist("sample")
>>> for init, result in zero_init_contrast(digits, epochs=1):
...     print(init, [(r["distinct_units"], r["kernel_gradient_norm"] > 0) for r in result.hidden_units])
zeros [(1, False), (1, False)]
glorot_uniform [(64, True), (64, True)]
>>> x = np.linspace(-1, 1, 20)
>>> [(v["variable"], v["gradient_norm"] is not None) for v in what_gets_a_gradient(x, 1 + x**2)]
[('coefficients', True), ('domain_min', False), ('domain_max', False), ('basis_transform', False)]
"""

import keras
import numpy as np

from polykeras import backend
from polykeras.mnist import train_mnist
from polykeras.polynomial import PolynomialRegression

# The seed program's data: y = 1 + 2x + 3x^2 + noise, 100 points on [-1, 1], six coefficients from 0.
SEED_PROBLEM = {"true_coefficients": [1.0, 2.0, 3.0], "samples": 100, "noise": 0.1, "x_range": (-1.0, 1.0), "degree": 5}
# Its own recipe, and polykeras's default, as `fit_polynomial` arguments.
SEED_RECIPES = [
    (
        "1. The seed program's recipe: raw monomials, SGD at 0.01, 1000 epochs from zeros",
        {"basis": "monomial", "learning_rate": 0.01, "epochs": 1000},
    ),
    ("2. polykeras's default: Legendre basis orthonormalised on the data, SGD at 0.4, 20 epochs", {}),
]
ZERO_INIT = {"epochs": 3, "hidden": (64, 64), "augment": False}


def zero_init_contrast(digits, **recipe):
    """Trains the MLP from zeros and from Glorot's random start (`ZERO_INIT` unless overridden).

    Returns:
        `[(init, MnistTraining), ...]`; each result's `hidden_units` says how
        many hidden units are distinct and what gradient reaches them.
    """
    recipe = {**ZERO_INIT, **recipe}
    return [(init, train_mnist(digits, init=init, **recipe)) for init in ("zeros", "glorot_uniform")]


# How each backend decides which variables to train: the seed's second question.
HOW_KERAS_TRAINS = {
    "tensorflow": "a tf.GradientTape watches the trainable variables while the loss is computed; "
    "tape.gradient gives None for the others",
    "jax": "model.stateless_call(trainable, non_trainable, x) is a pure function of the variables' values; "
    "jax.grad differentiates it with respect to its first argument only",
    "torch": "autograd records the operations on tensors with requires_grad, which Keras sets on the trainable "
    "variables alone; Keras's torch trainer calls loss.backward(), and only those get a .grad",
}


def what_gets_a_gradient(x, y, degree=5):
    """Computes one gradient of the polynomial's loss the backend's own way, for every variable.

    Args:
        x: Inputs.
        y: Targets.
        degree: The polynomial's degree.

    Returns:
        One dict per variable of a `PolynomialRegression` adapted to `x`:
        `variable` (its name), `path`, `shape`, `trainable`, and
        `gradient_norm` (None when the variable receives no gradient).
    """
    model = PolynomialRegression(degree)
    model.adapt(x)
    model.compile(optimizer="sgd", loss=keras.losses.MeanSquaredError(dtype="float64"))
    gradients = backend.gradient_by_variable(model, np.asarray(x, "float64"), np.asarray(y, "float64"))
    return [
        {
            "variable": v.name,
            "path": v.path,
            "shape": tuple(v.shape),
            "trainable": v.trainable,
            "gradient_norm": None if gradients[v.path] is None else float(np.linalg.norm(gradients[v.path])),
        }
        for v in model.weights
    ]
