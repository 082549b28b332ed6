"""Callbacks that log the weights to TensorBoard, so every weight is seen walking from its start.

`TensorBoard` works with any `model.fit`. For every model it logs the epoch
metrics, the learning rate, a histogram per weight and the gradient norm per
trainable variable; for a `Polynomial` layer also one scalar per power-basis
coefficient (`coefficients/c0`, ...), the gap to the least-squares optimum, the
fitted curve as an image, the equation as text and a custom-scalars chart with
all coefficients; for an MLP on 28x28 images, its first layer's kernels drawn
as a grid of images.

Summaries are built from NumPy with TensorBoard's own protobuf helpers and
written by TensorBoard's `EventFileWriter`, without a TensorFlow op per value:
logging costs little even when an epoch takes a few milliseconds.
"""

import io
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from polykeras.layers import Polynomial

HISTOGRAM_BUCKETS = 30
GRID_UNITS = 64


# ----------------------------------------------------------------------------
# Summaries from NumPy


def histogram_summary(tag, values, buckets=HISTOGRAM_BUCKETS):
    """A histogram summary of `values` (any shape), computed with `np.histogram`."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(values, bins=buckets, range=(low, high))
    table = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
    value = summary_pb2.Summary.Value(
        tag=tag,
        metadata=histogram_metadata.create_summary_metadata(display_name=tag, description=""),
        tensor=tensor_util.make_tensor_proto(table, dtype=np.float64),
    )
    return summary_pb2.Summary(value=[value])


def image_summary(tag, pixels, description=""):
    """An image summary of a uint8 array `(height, width)` or `(height, width, 3)`."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    height, width = pixels.shape[:2]
    tensor = tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), buffer.getvalue()])
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=image_metadata.create_summary_metadata(display_name=tag, description=description),
        tensor=tensor,
    )
    return summary_pb2.Summary(value=[value])


def coefficient_layout(degree):
    """A custom-scalars layout drawing every coefficient in one multi-line chart."""
    chart = layout_pb2.Chart(
        title="coefficients c0 ... c%d (power basis, original x units)" % degree,
        multiline=layout_pb2.MultilineChartContent(tag=[r"coefficients/c\d+$"]),
    )
    gap = layout_pb2.Chart(
        title="relative gap to the least-squares optimum",
        multiline=layout_pb2.MultilineChartContent(tag=[r"coefficients/gap_to_least_squares"]),
    )
    layout = layout_pb2.Layout(category=[layout_pb2.Category(title="polynomial", chart=[chart, gap])])
    value = summary_pb2.Summary.Value(
        tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
        metadata=custom_scalar_metadata.create_summary_metadata(),
        tensor=tensor_util.make_tensor_proto(layout.SerializeToString()),
    )
    return summary_pb2.Summary(value=[value])


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
    """The data points and the current fitted curve, drawn into an RGB array."""
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

    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([margin, margin, width - margin, height - margin], outline=(190, 190, 190))
    for px, py in zip(*to_pixels(x, y)):
        draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=(120, 120, 120))
    draw.line(list(zip(*to_pixels(grid, curve))), fill=(214, 39, 40), width=3)
    return np.asarray(canvas)


def kernel_grid(kernel, units=GRID_UNITS, side=28, scale=2):
    """The first `units` columns of a `(side*side, n)` kernel as a grid of grayscale images."""
    kernel = np.asarray(kernel, np.float64)[:, :units]
    count = kernel.shape[1]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell = side + 1
    grid = np.full((rows * cell + 1, columns * cell + 1), 255, np.uint8)
    for i in range(count):
        unit = kernel[:, i].reshape(side, side)
        spread = np.abs(unit).max() or 1.0
        tile = np.round(127.5 + 127.5 * unit / spread).astype(np.uint8)  # grey is 0
        r, c = divmod(i, columns)
        grid[1 + r * cell : 1 + r * cell + side, 1 + c * cell : 1 + c * cell + side] = tile
    return np.kron(grid, np.ones((scale, scale), np.uint8))


# ----------------------------------------------------------------------------
# The callback


class TensorBoard(keras.callbacks.Callback):
    """Logs the weights, their gradients and, for polynomials, the fitted curve.

    Named `TensorBoard`, with a `log_dir` attribute, so that KerasTuner sends
    each trial's logs to a folder of its own as it does for Keras's callback.
    Writers are created when training starts and closed when it ends, so the
    callback can be deep-copied (KerasTuner copies callbacks per trial).

    Steps count passes over the data: a model with `steps_per_batch` (see
    `PolynomialRegression`) advances that many per Keras epoch. The state
    before the first update is logged at step 0, so every curve starts at
    the initial value.

    Args:
        log_dir: The run's folder; `train/` and `validation/` go inside.
        histogram_freq: Weight histograms and gradient norms every this many
            epochs (and at the last). 0 turns them off.
        image_freq: Images (fitted curve, kernel grid) every this many
            epochs, at step 0 and at the last epoch. 0 turns them off.
        data: `(x, y)` used for the fitted curve and the gradient norms; for
            gradients, `y` must be in the form the model's loss takes.
        reference: Least-squares power-basis coefficients of a polynomial,
            for `coefficients/gap_to_least_squares`.
        gradient_samples: At most this many samples of `data` for gradients.

    Example:

    >>> callback = TensorBoard("logs/example", data=(x, y))  # doctest: +SKIP
    >>> model.fit(x, y, epochs=10, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, log_dir, histogram_freq=1, image_freq=5, data=None, reference=None, gradient_samples=256):
        super().__init__()
        for name, value in (("histogram_freq", histogram_freq), ("image_freq", image_freq),
                            ("gradient_samples", gradient_samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.image_freq = image_freq
        self.data = data
        self.reference = None if reference is None else np.asarray(reference, np.float64)
        self.gradient_samples = gradient_samples
        self._writers = {}

    # Writers -----------------------------------------------------------------

    def _write(self, summary, step, writer="train"):
        if writer not in self._writers:
            self._writers[writer] = EventFileWriter(os.path.join(self.log_dir, writer))
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        self._writers[writer].add_event(event)

    def on_train_begin(self, logs=None):
        self._polynomials = [layer for layer in self.model.layers if isinstance(layer, Polynomial)]
        self._first_kernel = next(
            (layer for layer in self.model.layers
             if isinstance(layer, keras.layers.Dense) and layer.kernel.shape[0] == 28 * 28),
            None,
        )
        self._started = False

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # Logging -----------------------------------------------------------------

    def _step(self, epoch):
        return epoch * getattr(self.model, "steps_per_batch", 1)

    def on_epoch_begin(self, epoch, logs=None):
        if self._started:
            return
        self._started = True
        if epoch == 0:  # not when BackupAndRestore resumes a run
            for layer in self._polynomials:
                self._write(coefficient_layout(layer.degree), 0)
            self._log_state(0, histograms=self.histogram_freq > 0, images=self.image_freq > 0)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        last = done == self.params.get("epochs")
        step = self._step(done)
        for name, value in (logs or {}).items():
            writer, name = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            self._write(scalar_pb(f"epoch_{name}", float(value)), step, writer)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            self._write(scalar_pb("optimizer/learning_rate", float(keras.ops.convert_to_numpy(optimizer.learning_rate))), step)
        self._log_state(
            step,
            histograms=self.histogram_freq > 0 and (done % self.histogram_freq == 0 or last),
            images=self.image_freq > 0 and (done % self.image_freq == 0 or last),
        )

    def _log_state(self, step, histograms, images):
        for layer in self._polynomials:
            self._log_polynomial(layer, step, images)
        if histograms:
            for variable in self.model.weights:
                self._write(histogram_summary(f"weights/{variable.path}", keras.ops.convert_to_numpy(variable)), step)
            if self.data is not None:
                for variable, norm in self._gradient_norms():
                    self._write(scalar_pb(f"gradient_norm/{variable.path}", norm), step)
        if images and self._first_kernel is not None:
            grid = kernel_grid(keras.ops.convert_to_numpy(self._first_kernel.kernel))
            self._write(image_summary(f"weights/{self._first_kernel.name}_kernels", grid,
                                      "first layer's weights, one 28x28 tile per unit; grey is 0"), step)

    def _log_polynomial(self, layer, step, images):
        coefficients = layer.coefficients()
        prefix = "coefficients" if len(self._polynomials) == 1 else f"{layer.name}/coefficients"
        for k, c in enumerate(coefficients):
            self._write(scalar_pb(f"{prefix}/c{k}", float(c)), step)
        if self.reference is not None:
            gap = np.linalg.norm(coefficients - self.reference) / (np.linalg.norm(self.reference) or 1.0)
            self._write(scalar_pb(f"{prefix}/gap_to_least_squares", float(gap)), step)
        self._write(text_pb("fit/equation", equation(coefficients)), step)
        if images and self.data is not None:
            self._write(image_summary("fit/curve", curve_image(*self.data, layer.polynomial()),
                                      "data (grey) and the current fitted curve (red)"), step)

    def _gradient_norms(self):
        x, y = (np.asarray(a)[: self.gradient_samples] for a in self.data)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.model.compute_loss(x=x, y=y, y_pred=self.model(x, training=False))
        gradients = tape.gradient(loss, variables)
        return [(v, 0.0 if g is None else float(tf.norm(g))) for v, g in zip(variables, gradients)]
