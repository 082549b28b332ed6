"""polykeras: watch a network's weights get trained, with Keras 3.

Importing polykeras registers its layers and models with Keras, so models
that hold them load back with `keras.saving.load_model(path, safe_mode=True)`.

Example:

>>> import polykeras
>>> layer = polykeras.Polynomial(degree=2)
>>> x, y = polykeras.synthetic_polynomial([1, 2, 3], samples=50, noise=0.0)
>>> polykeras.fit_polynomial(x, y, degree=2).coefficients.round(6).tolist()
[1.0, 2.0, 3.0]
"""

import os

import keras

if keras.backend.backend() == "jax":
    # The polynomial computes in float64; JAX truncates float64 to float32 unless its x64 mode is
    # on, and it must be on before any array is made. JAX_ENABLE_X64=0 opts out.
    import jax

    jax.config.update("jax_enable_x64", os.environ.get("JAX_ENABLE_X64", "1").lower() not in ("0", "false"))

from polykeras.backup import Backup  # noqa: E402
from polykeras.data import load_csv, load_mnist, synthetic_polynomial  # noqa: E402
from polykeras.errors import InvalidArgumentError, RunError  # noqa: E402
from polykeras.layers import Polynomial  # noqa: E402
from polykeras.mnist import MnistTraining, mnist_mlp, train_mnist  # noqa: E402
from polykeras.polynomial_panel import CoefficientHistory, PolynomialPanel  # noqa: E402
from polykeras.polynomial import PolynomialFit, PolynomialRegression, fit_polynomial, least_squares  # noqa: E402
from polykeras.tensorboard import Panel, TensorBoard, register_layer_panel  # noqa: E402
from polykeras.lr_finder import LrFindResult, lr_find  # noqa: E402
from polykeras.search import SearchResult, search  # noqa: E402  (polykeras.search is the function)

__version__ = "0.1.0"

__all__ = [
    "Backup",
    "CoefficientHistory",
    "InvalidArgumentError",
    "LrFindResult",
    "MnistTraining",
    "Panel",
    "Polynomial",
    "PolynomialFit",
    "PolynomialPanel",
    "PolynomialRegression",
    "RunError",
    "SearchResult",
    "TensorBoard",
    "fit_polynomial",
    "least_squares",
    "load_csv",
    "load_mnist",
    "lr_find",
    "mnist_mlp",
    "register_layer_panel",
    "search",
    "synthetic_polynomial",
    "train_mnist",
]
