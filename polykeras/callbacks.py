"""Callbacks that log the weights to TensorBoard, so every weight is seen walking from its start.

`TensorBoard` works with any `model.fit`. For every model it logs the epoch
metrics, the learning rate, a histogram per weight and the gradient norm per
trainable variable; for a `Polynomial` layer also one scalar per power-basis
coefficient (`coefficients/c0`, ...), the gap to the least-squares optimum, the
fitted curve as an image, the equation as text and a custom-scalars chart with
all coefficients; for an MLP on 28x28 images, its first layer's kernels drawn
as a grid of images.

Summaries are built from NumPy with TensorBoard's own protobuf helpers and
written in TensorBoard's record format (`EventWriter`), without TensorFlow.
The epoch hooks only copy the numbers they need; drawing, histogramming and
writing happen on a background thread, during training when epochs are long
and after it when they take milliseconds. `wait()` returns once everything is
on disk.
"""

import copy
import functools
import io
import itertools
import math
import os
import queue
import socket
import sys
import threading
import time

import keras
import numpy as np
from PIL import Image, ImageDraw
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from polykeras import backend
from polykeras.errors import InvalidArgumentError
from polykeras.layers import Polynomial

HISTOGRAM_BUCKETS = 30
# Epochs at least this long render their summaries alongside training; shorter
# ones (a polynomial's take milliseconds) leave it to the end, so that the
# writer thread does not compete with a Python-bound training loop.
LONG_EPOCH_SECONDS = 0.05
GRID_UNITS = 64


# ----------------------------------------------------------------------------
# Summaries from NumPy


_SCALAR_METADATA = scalar_pb("_", 0.0).value[0].metadata


def scalar_value(tag, value):
    """A scalar as a `Summary.Value`, as `scalar_pb` makes it but sharing its metadata."""
    with np.errstate(over="ignore"):  # beyond float32's range is inf, as TensorBoard stores it
        tensor = tensor_util.make_tensor_proto(np.float32(value))
    return summary_pb2.Summary.Value(tag=tag, metadata=_SCALAR_METADATA, tensor=tensor)


def histogram_summary(tag, values, buckets=HISTOGRAM_BUCKETS):
    """A histogram summary of `values` (any shape), computed with `np.histogram`."""
    values = np.asarray(values).reshape(-1)
    values = values[np.isfinite(values)]  # a diverged weight (NaN, inf) leaves only its finite values
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
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
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


# The first layer's initial kernel, saved in the run folder for the images of W - W0.
INITIAL_KERNEL_FILE = "initial_kernel.npy"


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


class EventWriter:
    """Writes summaries to a new event file in `log_dir`, in TensorBoard's record format.

    TensorBoard's own `EventFileWriter` opens files through `tf.io.gfile`,
    which imports TensorFlow; this writer uses plain files and TensorBoard's
    `RecordWriter`, so logging works the same, and as fast, on every backend.
    The file is named as `EventFileWriter` names it.

    Example:

    >>> with EventWriter("logs/run/train") as writer:  # doctest: +SKIP
    ...     writer.write([scalar_value("loss", 0.5)], step=1)
    """

    _count = itertools.count()

    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(self._count)}"
        self._file = open(os.path.join(log_dir, name), "wb")
        self._records = RecordWriter(self._file)
        self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _add(self, event):
        self._records.write(event.SerializeToString())
        self._file.flush()

    def write(self, values, step, wall_time=None):
        """Writes summary values (or whole summaries) for one step as one event."""
        summary = summary_pb2.Summary()
        for value in values:
            if isinstance(value, summary_pb2.Summary):
                summary.value.extend(value.value)
            else:
                summary.value.append(value)
        self._add(event_pb2.Event(wall_time=wall_time or time.time(), step=int(step), summary=summary))

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
                raise InvalidArgumentError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.image_freq = image_freq
        self.data = data
        self.reference = None if reference is None else np.asarray(reference, np.float64)
        self.gradient_samples = gradient_samples
        self._queue = None
        self._thread = None
        self._closed = True
        self._gradient_function = None

    # Writers: a background thread renders and writes what the hooks queue --

    def _write(self, values, step, writer="train"):
        """Queues a list of callables (each returning a summary or value) for one step."""
        if values:
            self._queue.put((writer, int(step), time.time(), values))

    def _drain(self, work, writers, root):
        while True:
            try:
                item = work.get(timeout=1.0)
            except queue.Empty:
                # fit raised before on_train_end: stop once the program is ending.
                if not threading.main_thread().is_alive():
                    break
                continue
            if item is None:
                break
            writer, step, wall_time, values = item
            if writer not in writers:
                writers[writer] = EventWriter(os.path.join(root, writer))
            summaries = []
            for make in values:
                try:
                    summaries.append(make())
                except Exception as e:  # one bad summary (say, a NaN curve) must not stop the others
                    print(f"warning: a TensorBoard summary at step {step} was skipped: {e}", file=sys.stderr)
            writers[writer].write(summaries, step, wall_time)
        for w in writers.values():
            w.close()

    def wait(self):
        """Blocks until everything logged so far is written and the files are closed."""
        thread = self._thread
        if thread is not None and thread.ident is not None:
            thread.join()

    def _start_writing(self):
        if self._thread.ident is None:
            self._thread.start()

    def on_train_begin(self, logs=None):
        if self._queue is not None and not self._closed:
            # A previous fit raised before on_train_end: close its writers before starting anew.
            self._queue.put(None)
            self._start_writing()
        self.wait()
        self._queue = queue.SimpleQueue()
        self._closed = False
        # The folder as it is now: a later change of the working directory must not move the logs.
        root = os.path.abspath(self.log_dir)
        self._thread = threading.Thread(target=self._drain, args=(self._queue, {}, root), name="polykeras-tensorboard")
        # The power-basis map depends only on non-trainable variables: computed once.
        self._polynomials = [
            (layer, layer.power_basis_matrix()) for layer in self.model.layers if isinstance(layer, Polynomial)
        ]
        self._first_kernel = next(
            (layer for layer in self.model.layers
             if isinstance(layer, keras.layers.Dense) and layer.kernel.shape[0] == 28 * 28),
            None,
        )
        self._initial_kernel = None  # W0 of that layer, for the images of W - W0
        self._model_reports_gradients = getattr(self.model, "reports_gradient_norms", False)
        self._gradient_function = None  # traced on first use, for this model
        self._started = False

    def on_train_end(self, logs=None):
        self._queue.put(None)  # the thread closes the files and ends; wait() joins it
        self._closed = True
        self._start_writing()

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in ("_queue", "_thread", "_model", "_gradient_function", "_polynomials", "_first_kernel"):
                value = None
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    # Logging: the hooks copy numbers; the thread builds the summaries --------

    def _step(self, epoch):
        return epoch * getattr(self.model, "steps_per_batch", 1)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        if self._started:
            return
        self._started = True
        if self._first_kernel is not None:
            self._initial_kernel = self._keep_initial_kernel(epoch)
        if epoch == 0:  # not when a backup resumes the run
            values = [functools.partial(coefficient_layout, layer.degree) for layer, _ in self._polynomials]
            self._write(values + self._state({}, self.histogram_freq > 0, self.image_freq > 0, initial=True), 0)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done = epoch + 1
        last = done == self.params.get("epochs")
        train, validation = [], []
        for name, value in logs.items():
            if name.startswith("gradient_norm/"):
                continue  # written with the histograms
            if name.startswith("val_"):
                validation.append(functools.partial(scalar_value, f"epoch_{name[4:]}", float(value)))
            else:
                train.append(functools.partial(scalar_value, f"epoch_{name}", float(value)))
        histograms = self.histogram_freq > 0 and (done % self.histogram_freq == 0 or last)
        images = self.image_freq > 0 and (done % self.image_freq == 0 or last)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and histograms:
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            train.append(functools.partial(scalar_value, "optimizer/learning_rate", rate))
        step = self._step(done)
        self._write(train + self._state(logs, histograms, images), step)
        self._write(validation, step, "validation")
        # The first epoch also traces the training graph, so it does not decide.
        if epoch > 0 and time.perf_counter() - self._epoch_start >= LONG_EPOCH_SECONDS:
            self._start_writing()

    def _keep_initial_kernel(self, epoch):
        """The first layer's kernel before training (W0): kept in the run folder, read back when a run resumes."""
        path = os.path.join(self.log_dir, INITIAL_KERNEL_FILE)
        if epoch == 0:
            kernel = _read(self._first_kernel.kernel)
            os.makedirs(self.log_dir, exist_ok=True)
            np.save(path, kernel)
            return kernel
        return np.load(path) if os.path.exists(path) else None

    def _state(self, logs, histograms, images, initial=False):
        """Callables building the summaries of the model's current weights (copied now)."""
        values = []
        for layer, matrix in self._polynomials:
            coefficients = matrix @ _read(layer.basis_coefficients).astype(np.float64)
            prefix = "coefficients" if len(self._polynomials) == 1 else f"{layer.name}/coefficients"
            values.append(functools.partial(_polynomial_summary, prefix, coefficients, self.reference,
                                            self.data if images else None))
        if histograms:
            # Non-trainable weights cannot change in training: their histograms at step 0 only.
            weights = self.model.weights if initial else self.model.trainable_weights
            for variable in weights:
                values.append(functools.partial(histogram_summary, f"weights/{variable.path}", _read(variable)))
            for path, norm in self._gradient_norms(logs):
                values.append(functools.partial(scalar_value, f"gradient_norm/{path}", norm))
        if images and self._first_kernel is not None:
            kernel = _read(self._first_kernel.kernel)
            name = self._first_kernel.name
            values.append(functools.partial(_kernel_grid_summary, f"weights/{name}_kernels", kernel, RAW_KERNELS))
            if self._initial_kernel is not None:
                values.append(functools.partial(_kernel_grid_summary, f"weights/{name}_learned",
                                                 kernel - self._initial_kernel, LEARNED_KERNELS))
        return values

    def _gradient_norms(self, logs):
        """Gradient norm per trainable variable: reported by the model in its logs, or computed on `data`."""
        if self._model_reports_gradients:
            return [(name[len("gradient_norm/"):], float(v)) for name, v in logs.items()
                    if name.startswith("gradient_norm/")]
        if self.data is None:
            return []
        if self._gradient_function is None:  # compiled on first use, for this model
            x, y = (np.asarray(a)[: self.gradient_samples] for a in self.data)
            self._gradient_function = backend.gradient_function(self.model, x, y)
        paths = [v.path for v in self.model.trainable_variables]
        return [(path, float(np.linalg.norm(g))) for path, g in zip(paths, self._gradient_function())]


class CoefficientHistory(keras.callbacks.Callback):
    """Records a model's polynomial coefficients (power basis) at step 0 and after every epoch.

    Attributes:
        steps: Passes over the data at each record.
        coefficients: One float64 array per record.

    Example:

    >>> history = CoefficientHistory()  # doctest: +SKIP
    >>> fit_polynomial(x, y, callbacks=[history])  # doctest: +SKIP
    >>> history.coefficients[0]  # doctest: +SKIP
    array([0., 0., 0., 0., 0., 0.])
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
        self.coefficients.append(self._matrix @ _read(self._layer.basis_coefficients).astype(np.float64))


def polynomial_logger(log_dir, x, y, epochs, batch_size=None, reference=None):
    """The callback `fit-poly` uses: coefficients every epoch; histograms and pictures at start, middle and end.

    Its epochs take milliseconds, where reading a variable alone costs a
    tenth of one, so the heavier summaries are kept to three steps.

    Args:
        reference: The least-squares optimum's power-basis coefficients,
            for the gap to it (`fit_polynomial` computes it from the data's
            R factor).
    """
    from polykeras.polynomial import epoch_grouping

    full_batch = batch_size is None or batch_size >= len(x)  # fit_polynomial groups only full batches
    keras_epochs = epochs // epoch_grouping(epochs) if full_batch else epochs
    freq = max(1, keras_epochs // 2)
    return TensorBoard(log_dir, histogram_freq=freq, image_freq=freq, data=(x, y), reference=reference)


def mnist_logger(log_dir, x_train, y_train, gradient_samples=256):
    """The callback `train-mnist` uses: metrics every epoch; histograms and gradient norms every 5th, kernels every 10th.

    Gradient norms are taken on a fixed spread of training images (one-hot labels, as the loss takes them).
    """
    pick = np.linspace(0, len(x_train) - 1, gradient_samples).astype(int)
    return TensorBoard(log_dir, histogram_freq=5, image_freq=10, gradient_samples=gradient_samples,
                       data=(x_train[pick], keras.utils.to_categorical(y_train[pick], 10)))


def write_lr_find_events(log_dir, result, picture=None):
    """Writes a learning-rate range test to TensorBoard: rate, loss and smoothed loss per step, and its picture.

    Args:
        log_dir: The run folder; events go to `log_dir/train`.
        result: An `LrFindResult` from `polykeras.tuning.lr_find`.
        picture: The plot as a uint8 RGB array (`polykeras.plots.plot_lr_find`), if any.
    """
    with EventWriter(os.path.join(log_dir, "train")) as writer:
        for step, (rate, loss, smoothed) in enumerate(zip(result.rates, result.losses, result.smoothed)):
            writer.write([scalar_value("lr_find/learning_rate", rate), scalar_value("lr_find/loss", loss),
                          scalar_value("lr_find/smoothed_loss", smoothed)], step)
        if picture is not None:
            writer.write([image_summary("lr_find/loss_vs_rate", picture)], len(result.rates))


def _read(variable):
    """A NumPy copy of a Keras variable's current value (TensorFlow's `.numpy()` is the fastest way there)."""
    value = variable.value
    return value.numpy() if hasattr(value, "numpy") else np.array(value)


def _polynomial_summary(prefix, coefficients, reference, data):
    from polykeras.polynomial import relative_gap

    values = [scalar_value(f"{prefix}/c{k}", c) for k, c in enumerate(coefficients)]
    if reference is not None:
        values.append(scalar_value(f"{prefix}/gap_to_least_squares", relative_gap(coefficients, reference)))
    values.extend(text_pb("fit/equation", equation(coefficients)).value)
    if data is not None:
        image = curve_image(*data, np.polynomial.Polynomial(coefficients))
        values.extend(image_summary("fit/curve", image, "data (grey) and the current fitted curve (red)").value)
    return summary_pb2.Summary(value=values)


RAW_KERNELS = "first layer's weights, one 28x28 tile per unit; grey is 0"
LEARNED_KERNELS = ("what each first-layer unit learned: its weights now minus their random initial values "
                   "(W - W0), one 28x28 tile per unit; grey is no change")


def _kernel_grid_summary(tag, kernel, description):
    return image_summary(tag, kernel_grid(kernel), description)
