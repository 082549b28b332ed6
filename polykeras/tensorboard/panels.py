"""The panels of `polykeras.TensorBoard`: what it writes beside the metrics, each a small class.

A panel looks at the model when training starts and decides whether it
applies; at each log point it copies the numbers it needs (cheap, in the
training loop) and returns callables that build the summaries (on the
callback's writer thread). The built-in panels know no particular model:

- `Weights` ("weights"): Keras's `<path>/histogram` for every weight, and
  per-layer norms of the weights and of their gradients on the fixed batch.
- `UpdateRatios` ("update_ratios"): ||W(t) - W(t-k)|| / ||W(t-k)|| per
  trainable variable since the last log, in one custom-scalars chart.
- `Activations` ("activations"): for every ReLU-family layer, the share of
  its units that are zero on the whole fixed batch, and a histogram.
- `FirstLayer` ("first_layer"): for a model whose input is an image, the
  first layer's weights as tiles, raw and minus their initial values.

A panel is given what it may look at, a `Watched` (the model, the run's
folder, the data and the fixed batch, and the probe that computes on it), not
the callback. What is special to a layer type plugs in from that layer's
side: `register_layer_panel(LayerClass, factory)` makes the callback add
`factory(layer)` for every such layer it finds (see `polykeras.polynomial_panel`).
"""

import dataclasses
import functools
import math
import os

import keras
import numpy as np

from polykeras.backend.common import reported_gradient_norms
from polykeras.tensorboard.events import (
    histogram_from_counts,
    histogram_summary,
    image_summary,
    multiline_chart,
    scalar_value,
)
from polykeras.tensorboard.probe import BatchProbe, is_relu_layer, read

MAX_TILES = 64
INITIAL_KERNEL_FILE = "initial_kernel.npy"

_LAYER_PANELS = {}


def register_layer_panel(layer_class, factory):
    """Makes `TensorBoard` add `factory(layer)` (a `Panel`) for every layer of `layer_class` in a model."""
    _LAYER_PANELS[layer_class] = factory


@dataclasses.dataclass
class Watched:
    """What a panel may look at when training starts.

    Attributes:
        model: The model being trained (built).
        log_dir: The run's folder (a panel may keep a file of its own there).
        data: The data the callback was given, `(x, y)`, or None.
        batch: The fixed batch, `(x, y, sample_weight)`: at most
            `data_samples` of `data`; None without data.
        probe: What computes the fixed batch's gradients and activations
            (`BatchProbe`), or None when no panel needs them or there is no data.
        write_images: Whether Keras's `write_images` was asked for.
    """

    model: keras.Model
    log_dir: str
    data: tuple = None
    batch: tuple = None
    probe: BatchProbe = None
    write_images: bool = False


def all_layers(model):
    """Every layer inside `model`, depth first, nested models' layers included."""
    for layer in getattr(model, "layers", []):
        yield layer
        if isinstance(layer, keras.Model) or hasattr(layer, "layers"):
            yield from all_layers(layer)


def owner(path):
    """The layer path of a variable path: `conv2d/kernel` -> `conv2d`."""
    return path.rpartition("/")[0] or path


class Panel:
    """One group of summaries. Subclasses override `start`, `charts` and `log` as they need.

    Attributes:
        name: How `TensorBoard(panels=...)` names a built-in panel.
    """

    name = None
    uses_gradients = False  # the fixed batch's gradients (`Snapshot.batch`)
    uses_activations = False  # the fixed batch's ReLU-family outputs

    def without_data(self, model):
        """What this panel leaves out for `model` when the callback has no `data`, or None."""
        return None

    def start(self, watched, initial_epoch):
        """Called when training starts, with what the panel may look at (`Watched`); returns whether it applies."""
        return True

    def charts(self):
        """Custom-scalars charts: `[(category title, [chart, ...])]`."""
        return []

    def log(self, snapshot):
        """Callables that each build a summary (or summary value) of `snapshot`; run on the writer thread."""
        return []


class Weights(Panel):
    """Keras's weight histograms, and per-layer norms of the weights and of their gradients.

    Gradients come from the model itself when its `train_step` reports
    their norms in the logs (`polykeras.backend.common.GRADIENT_NORM`;
    `PolynomialRegression` does, every epoch), else they are computed on the
    fixed batch with the compiled loss, at each histogram step.
    """

    name = "weights"
    uses_gradients = True

    def without_data(self, model):
        return None if getattr(model, "reports_gradient_norms", False) else "gradient norms"

    def start(self, watched, initial_epoch):
        self._model = watched.model
        self._gradients = watched.probe is not None and watched.probe.gradients
        self._write_images = watched.write_images
        return True

    def charts(self):
        return [
            (
                "weights",
                [
                    multiline_chart("weight norm per layer", r"^weight_norm/"),
                    multiline_chart("gradient norm per layer", r"^gradient_norm/"),
                ],
            )
        ]

    def log(self, snapshot):
        values = []
        reported = reported_gradient_norms(snapshot.logs)
        if reported:
            values += _layer_norms("gradient_norm", reported.items(), squared=False)
        if not snapshot.histograms:
            return values
        weights = snapshot.weights()
        for path, value in weights.items():
            name = path.replace(":", "_")
            values.append(functools.partial(histogram_summary, f"{name}/histogram", value))
            if self._write_images:
                values.append(functools.partial(_weight_image, f"{name}/image", value))
        trainable = [v.path for v in self._model.trainable_variables]
        values += _layer_norms("weight_norm", ((p, weights[p]) for p in trainable))
        if self._gradients and not reported and not snapshot.initial:
            values.append(functools.partial(_gradient_norms, snapshot.batch()))
        return values


def _gradient_norms(batch):
    return [make() for make in _layer_norms("gradient_norm", batch()[0].items())]


def _layer_norms(prefix, items, squared=True):
    """Callables for `prefix/<layer path>` scalars: the 2-norm over each layer's variables (arrays, or their norms).

    The sums run on the writer thread.
    """
    layers = {}
    for path, value in items:
        layers.setdefault(owner(path), []).append(value)
    return [functools.partial(_norm_scalar, f"{prefix}/{layer}", parts, squared) for layer, parts in layers.items()]


def _norm_scalar(tag, parts, squared):
    total = sum(float(np.sum(np.square(p, dtype=np.float64))) if squared else float(p) ** 2 for p in parts)
    return scalar_value(tag, math.sqrt(total))


def _weight_image(tag, value):
    """A weight as Keras's `write_images` draws it: a bias as a row, a kernel as a matrix, conv kernels per filter."""
    w = np.squeeze(np.asarray(value, np.float64))
    if w.ndim == 1:
        images = [w[None, :]]
    elif w.ndim == 2:
        images = [w.T if w.shape[0] > w.shape[1] else w]
    elif w.ndim == 3:  # channels last: one image per channel, at most 3 as tf.summary.image writes
        images = [w[:, :, i] for i in range(min(3, w.shape[2]))]
    else:
        return image_summary(tag, np.zeros((1, 1), np.uint8))
    scaled = []
    for image in images:
        low, high = float(np.min(image)), float(np.max(image))
        scaled.append(np.round(255 * (image - low) / ((high - low) or 1.0)).astype(np.uint8))
    return image_summary(tag, scaled)


class UpdateRatios(Panel):
    """||W(t) - W(t-k)|| / ||W(t-k)|| per trainable variable since the last log.

    CS231n's quick check of a learning rate: per optimizer step about 1e-3
    is healthy. Since the last log spans every step in between, so compare
    layers and runs rather than the absolute value: a too large rate stands
    out by orders of magnitude. A variable that was all zeros at the last
    log (a bias at its start) has no ratio at the next one.
    """

    name = "update_ratios"

    def start(self, watched, initial_epoch):
        self._model = watched.model
        self._previous = None
        return True

    def charts(self):
        return [
            (
                "update ratio",
                [multiline_chart("||W(t) - W(t-k)|| / ||W(t-k)|| per variable since the last log", r"^update_ratio/")],
            )
        ]

    def log(self, snapshot):
        if not snapshot.histograms:
            return []
        weights = snapshot.weights()
        current = {v.path: weights[v.path] for v in self._model.trainable_variables}
        previous, self._previous = self._previous, current
        if previous is None:
            return []
        return [
            functools.partial(_update_ratio, f"update_ratio/{p}", value, previous[p])
            for p, value in current.items()
            if p in previous and np.any(previous[p])
        ]


def _update_ratio(tag, current, previous):
    current, previous = np.asarray(current, np.float64), np.asarray(previous, np.float64)
    return scalar_value(tag, np.linalg.norm(current - previous) / np.linalg.norm(previous))


class Activations(Panel):
    """For every ReLU-family layer: the share of dead units on the fixed batch, and a histogram of its outputs.

    A unit is a feature of the last axis (a `Dense` unit, a convolution's
    filter); it is dead when it outputs zero for every sample of the fixed
    batch, at every position. The outputs come from one extra function of
    the model's inputs, `keras.Model(inputs, [layer.output, ...])`, sharing
    the model's layers (the model itself is not changed), compiled together
    with the gradients (`BatchProbe`).
    """

    name = "activations"
    uses_activations = True

    def without_data(self, model):
        return "activations" if any(is_relu_layer(layer) for layer in model.layers) else None

    def start(self, watched, initial_epoch):
        self._layers = watched.probe.layers if watched.probe is not None else []
        return bool(self._layers)

    def charts(self):
        return [
            (
                "activations",
                [
                    multiline_chart(
                        "share of dead units (zero on the whole fixed batch)", r"^activations/.*/dead_fraction$"
                    )
                ],
            )
        ]

    def log(self, snapshot):
        if not snapshot.histograms:
            return []
        return [
            functools.partial(
                _activation_summaries, [f"activations/{layer.name}" for layer in self._layers], snapshot.batch()
            )
        ]


def _activation_summaries(prefixes, batch):
    values = []
    for prefix, (dead, counts, edges) in zip(prefixes, batch()[1], strict=True):
        values += [
            scalar_value(f"{prefix}/dead_fraction", float(dead)),
            *histogram_from_counts(f"{prefix}/histogram", counts, edges).value,
        ]
    return values


def image_shape(model, x):
    """`(height, width, channels)` of the model's input when it is one image (H x W or H x W x C, C in 1 or 3)."""
    try:
        shapes = [tuple(t.shape[1:]) for t in model.inputs]
    except (AttributeError, ValueError):
        shapes = [np.shape(a)[1:] for a in keras.tree.flatten(x)] if x is not None else []
    if len(shapes) != 1 or None in shapes[0]:
        return None
    shape = shapes[0]
    if len(shape) == 2:
        return (*shape, 1)
    if len(shape) == 3 and shape[2] in (1, 3):
        return shape
    return None


def first_layer_kernel(model, shape):
    """The model's first layer with a kernel, when it is a `Dense` on the flattened image or a `Conv2D` on it."""
    height, width, channels = shape
    for layer in all_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None or isinstance(layer, keras.Model):
            continue
        if isinstance(layer, keras.layers.Dense) and kernel.shape[0] == height * width * channels:
            return layer
        if (
            isinstance(layer, keras.layers.Conv2D)
            and layer.data_format == "channels_last"
            and kernel.shape[2] == channels
        ):
            return layer
        return None
    return None


def tiles(kernel, layer, shape):
    """The first layer's kernel as one tile per unit: `(units, h, w)` in grey or `(units, h, w, 3)` in colour."""
    kernel = np.asarray(kernel, np.float64)
    height, width, channels = shape
    if kernel.ndim == 2:  # Dense on the flattened image: one H x W (x C) tile per unit
        units = kernel.T.reshape(-1, height, width, channels)
    else:  # Conv2D (k, k, C, filters): one k x k (x C) tile per filter
        units = kernel.transpose(3, 0, 1, 2)
    return units[..., 0] if channels == 1 else units


def tile_grid(units, max_tiles=MAX_TILES, min_pixels=48):
    """Tiles `(n, h, w[, 3])` as one uint8 picture, each scaled alone so that grey is 0; at most `max_tiles`.

    Small tiles (a 3 x 3 convolution) are enlarged to about `min_pixels`.
    """
    units = np.asarray(units, np.float64)[:max_tiles]
    count, side_h, side_w = units.shape[:3]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_h, cell_w = side_h + 1, side_w + 1
    grid = np.full((rows * cell_h + 1, columns * cell_w + 1, *units.shape[3:]), 255, np.uint8)
    for i, unit in enumerate(units):
        spread = np.abs(unit).max() or 1.0
        r, c = divmod(i, columns)
        grid[1 + r * cell_h : 1 + r * cell_h + side_h, 1 + c * cell_w : 1 + c * cell_w + side_w] = np.round(
            127.5 + 127.5 * unit / spread
        ).astype(np.uint8)
    scale = max(1, math.ceil(min_pixels / max(side_h, side_w)))
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)


RAW = "the first layer's weights, one tile per unit or filter; grey is 0"
LEARNED = (
    "what each first-layer unit learned: its weights now minus their initial values (W - W0), "
    "one tile per unit or filter; grey is no change"
)


class FirstLayer(Panel):
    """The first layer's weights as image tiles, raw and as W - W0, for a model whose input is an image.

    W0 is saved in the run folder (`initial_kernel.npy`) when training starts
    at epoch 0, and read back when a run resumes, so a resumed run draws the
    same difference.
    """

    name = "first_layer"

    def start(self, watched, initial_epoch):
        x = watched.batch[0] if watched.batch is not None else None
        shape = image_shape(watched.model, x)
        self._layer = first_layer_kernel(watched.model, shape) if shape else None
        if self._layer is None:
            return False
        self._shape = shape
        path = os.path.join(watched.log_dir, INITIAL_KERNEL_FILE)
        if initial_epoch == 0:
            self._initial = read(self._layer.kernel)
            os.makedirs(watched.log_dir, exist_ok=True)
            np.save(path, self._initial)
        else:
            self._initial = np.load(path) if os.path.exists(path) else None
        return True

    def log(self, snapshot):
        if not snapshot.images:
            return []
        kernel = read(self._layer.kernel)
        name = self._layer.name
        values = [functools.partial(_tiles_summary, f"weights/{name}_kernels", kernel, self._layer, self._shape, RAW)]
        if self._initial is not None:
            values.append(
                functools.partial(
                    _tiles_summary, f"weights/{name}_learned", kernel - self._initial, self._layer, self._shape, LEARNED
                )
            )
        return values


def _tiles_summary(tag, kernel, layer, shape, description):
    return image_summary(tag, tile_grid(tiles(kernel, layer, shape)), description)


BUILT_IN = {panel.name: panel for panel in (Weights, UpdateRatios, Activations, FirstLayer)}


def layer_panels(model):
    """A panel for every layer of the model whose type has one registered (`register_layer_panel`)."""
    panels = []
    for layer in all_layers(model):
        for layer_class, factory in _LAYER_PANELS.items():
            if isinstance(layer, layer_class):
                panels.append(factory(layer))
    return panels
