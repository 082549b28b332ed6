"""What TensorBoard shows of a `Polynomial` layer, plugged into `polykeras.TensorBoard` from the layer's side.

For every `Polynomial` in a model the callback writes one scalar per
power-basis coefficient (`coefficients/c0`, ...) every epoch, the gap to a
least-squares reference when one is given, the equation as text, the fitted
curve over the data as an image, and a custom-scalars chart with all the
coefficients. `CoefficientHistory` records the same coefficients in memory.

Example:

>>> equation([1, -2, 3])
'y = 1 - 2·x + 3·x²'
"""

import functools

import keras
import numpy as np
from PIL import Image, ImageDraw
from tensorboard.compat.proto import summary_pb2

from polykeras.layers import Polynomial, relative_gap
from polykeras.tensorboard.events import image_summary, multiline_chart, scalar_value, text_value
from polykeras.tensorboard.panels import Panel, register_layer_panel
from polykeras.tensorboard.probe import read

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def equation(coefficients, digits=4):
    """`y = 0.963 + 1.917·x + 3.116·x²` for power-basis coefficients, lowest degree first."""
    terms = []
    for k, c in enumerate(coefficients):
        value = f"{abs(c):.{digits}g}"
        term = value if k == 0 else f"{value}·x" if k == 1 else f"{value}·x{str(k).translate(_SUPERSCRIPTS)}"
        sign = "-" if c < 0 else "+"
        terms.append(("-" if c < 0 else "") + term if not terms else f"{sign} {term}")
    return "y = " + " ".join(terms)


def curve_image(x, y, polynomial, width=480, height=320, max_points=2000):
    """The data points (grey) and the current fitted curve (red), drawn as a PIL image."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) > max_points:
        keep = np.linspace(0, len(x) - 1, max_points).astype(int)
        x, y = x[keep], y[keep]
    grid = np.linspace(x.min(), x.max(), width)
    curve = polynomial(grid)
    low, high = float(y.min()), float(y.max())
    pad = 0.08 * (high - low or 1.0)
    low, high = low - pad, high + pad
    margin = 12

    def to_pixels(xs, ys):
        px = margin + (xs - x.min()) / ((x.max() - x.min()) or 1.0) * (width - 2 * margin)
        py = height - margin - (np.clip(ys, low, high) - low) / (high - low) * (height - 2 * margin)
        return px, py

    # Four colours: a palette image encodes as PNG three times faster than RGB.
    canvas = Image.new("P", (width, height), 0)
    canvas.putpalette([255, 255, 255, 190, 190, 190, 120, 120, 120, 214, 39, 40])
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([margin, margin, width - margin, height - margin], outline=1)
    for px, py in zip(*to_pixels(x, y), strict=True):
        draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=2)
    draw.line(list(zip(*to_pixels(grid, curve), strict=True)), fill=3, width=3)
    return canvas


class PolynomialPanel(Panel):
    """A polynomial's coefficients every epoch, its gap to least squares, its equation and its curve.

    Args:
        layer: The `Polynomial` layer; None for the model's only one.
        reference: Least-squares power-basis coefficients, for
            `coefficients/gap_to_least_squares`.

    With the callback's `data=(x, y)` the curve is drawn over the data at
    each image step. With several polynomials, tags start with the layer's
    name (`<name>/coefficients/c0`).
    """

    name = "polynomial"

    def __init__(self, layer=None, reference=None):
        self.layer = layer
        self.reference = None if reference is None else np.asarray(reference, np.float64)

    def start(self, watched, initial_epoch):
        polynomials = [layer for layer in watched.model.layers if isinstance(layer, Polynomial)]
        layer = self.layer or (polynomials[0] if len(polynomials) == 1 else None)
        if layer is None:
            return False
        self._layer = layer
        self._matrix = layer.power_basis_matrix()  # depends only on non-trainable variables: computed once
        self._prefix = "coefficients" if len(polynomials) == 1 else f"{layer.name}/coefficients"
        self._data = None if watched.data is None else tuple(np.asarray(a) for a in watched.data[:2])
        return True

    def charts(self):
        degree = self._layer.degree
        return [
            (
                "polynomial",
                [
                    multiline_chart(
                        f"coefficients c0 ... c{degree} (power basis, original x units)", rf"{self._prefix}/c\d+$"
                    ),
                    multiline_chart(
                        "relative gap to the least-squares optimum", rf"{self._prefix}/gap_to_least_squares"
                    ),
                ],
            )
        ]

    def log(self, snapshot):
        coefficients = self._matrix @ read(self._layer.basis_coefficients).astype(np.float64)
        data = self._data if snapshot.images else None
        return [functools.partial(_polynomial_summary, self._prefix, coefficients, self.reference, data)]


register_layer_panel(Polynomial, PolynomialPanel)


def _polynomial_summary(prefix, coefficients, reference, data):
    values = [scalar_value(f"{prefix}/c{k}", c) for k, c in enumerate(coefficients)]
    if reference is not None:
        values.append(scalar_value(f"{prefix}/gap_to_least_squares", relative_gap(coefficients, reference)))
    values.append(text_value("fit/equation", equation(coefficients)))
    if data is not None:
        image = curve_image(*data, np.polynomial.Polynomial(coefficients))
        values.extend(image_summary("fit/curve", image, "data (grey) and the current fitted curve (red)").value)
    return summary_pb2.Summary(value=values)


class CoefficientHistory(keras.callbacks.Callback):
    """Records a model's polynomial coefficients (power basis) at step 0 and after every epoch.

    Attributes:
        steps: Passes over the data at each record.
        coefficients: One float64 array per record.

    Example:

    >>> from polykeras.data import synthetic_polynomial
    >>> from polykeras.polynomial import fit_polynomial
    >>> x, y = synthetic_polynomial([1, 2, 3], samples=50)
    >>> history = CoefficientHistory()
    >>> _ = fit_polynomial(x, y, degree=2, epochs=3, callbacks=[history])
    >>> history.steps, history.coefficients[0].tolist()
    ([0, 1, 2, 3], [0.0, 0.0, 0.0])
    """

    def __init__(self):
        super().__init__()
        self.steps, self.coefficients = [], []

    def on_train_begin(self, logs=None):
        self._layer = next(layer for layer in self.model.layers if isinstance(layer, Polynomial))
        self._matrix = self._layer.power_basis_matrix()
        self._per_epoch = getattr(self.model, "steps_per_batch", 1)
        if not self.steps:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record((epoch + 1) * self._per_epoch)

    def _record(self, step):
        self.steps.append(step)
        self.coefficients.append(self._matrix @ read(self._layer.basis_coefficients).astype(np.float64))
