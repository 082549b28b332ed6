"""polykeras: watch a network's weights get trained, with Keras 3.

Importing polykeras registers its layers with Keras, so models that hold them
load back with `keras.saving.load_model(path, safe_mode=True)`.

Example:

>>> import polykeras
>>> layer = polykeras.Polynomial(degree=2)
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from polykeras.data import load_csv, synthetic_polynomial  # noqa: E402
from polykeras.layers import Polynomial  # noqa: E402
from polykeras.models import PolynomialFit, PolynomialRegression, fit_polynomial, least_squares  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Polynomial",
    "PolynomialFit",
    "fit_polynomial",
    "least_squares",
    "load_csv",
    "PolynomialRegression",
    "synthetic_polynomial",
]
