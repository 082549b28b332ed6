"""polykeras: watch a network's weights get trained, with Keras 3.

Importing polykeras registers its layers and models with Keras, so models
that hold them load back with `keras.saving.load_model(path, safe_mode=True)`.
Imported before Keras, it chooses Keras's backend when none is named, or
when the one named in `keras.json` is not installed, and says so in one line
(`polykeras.backend_choice`).

Example:

>>> import polykeras
>>> layer = polykeras.Polynomial(degree=2)
>>> x, y = polykeras.synthetic_polynomial([1, 2, 3], samples=50, noise=0.0)
>>> polykeras.fit_polynomial(x, y, degree=2).coefficients.round(6).tolist()
[1.0, 2.0, 3.0]
"""

import logging
import os
import sys

from polykeras import backend_choice

if "keras" not in sys.modules:  # Keras has not chosen yet: choose for it
    _backend, _notice = backend_choice.choose()
    os.environ["KERAS_BACKEND"] = _backend
    if _notice:
        logging.getLogger(__name__).warning("%s", _notice)

import keras

if keras.backend.backend() == "jax":
    # The polynomial computes in float64; JAX truncates float64 to float32 unless its x64 mode is
    # on, and it must be on before any array is made. JAX_ENABLE_X64=0 opts out.
    import jax

    jax.config.update("jax_enable_x64", os.environ.get("JAX_ENABLE_X64", "1").lower() not in ("0", "false"))

from polykeras import summary, tasks
from polykeras.backup import Backup
from polykeras.data import load_csv, load_mnist, synthetic_polynomial
from polykeras.errors import InvalidArgumentError, RunError
from polykeras.layers import Polynomial
from polykeras.lr_finder import LrFindResult, lr_find
from polykeras.mnist import MnistTraining, mnist_mlp, train_mnist
from polykeras.polynomial import PolynomialFit, PolynomialRegression, fit_polynomial, least_squares
from polykeras.polynomial_panel import CoefficientHistory, PolynomialPanel
from polykeras.search import SearchResult, search
from polykeras.tensorboard import Panel, TensorBoard, register_layer_panel

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
    "summary",
    "synthetic_polynomial",
    "tasks",
    "train_mnist",
]
