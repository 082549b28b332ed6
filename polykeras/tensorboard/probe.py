"""The fixed batch, and what the callback computes on it: the loss's gradients and the ReLU-family layers' outputs.

The training loop only copies the weights at a log point (`Snapshot`); the
fixed batch's gradients and activations are computed from those copies on
the callback's writer thread, statelessly, by one function of the backend's
(`polykeras.backend.batch_function`), compiled once per `fit` (`BatchProbe`).
Every panel that needs them shares the one computation of a log point.
"""

import warnings

import keras
import numpy as np

from polykeras import arrays, backend, summary
from polykeras.tensorboard.events import HISTOGRAM_BUCKETS

# A unit is dead when its output is exactly zero on every sample of the fixed batch.
RELU_ACTIVATIONS = ("relu", "relu6")


def read(variable):
    """A NumPy copy of a Keras variable's current value (`backend.read_variable`)."""
    return backend.read_variable(variable)


def fixed_batch(data, samples):
    """`(x, y, sample_weight)` of at most `samples` evenly spaced samples of `data` (`(x, y)` in any structure)."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(tuple(data) if isinstance(data, list) else data)
    count = arrays.samples(x)
    pick = np.linspace(0, count - 1, min(samples, count)).astype(int) if samples else np.arange(count)
    return arrays.take(x, pick), arrays.take(y, pick), arrays.take(sample_weight, pick)


def is_relu_layer(layer):
    """Whether a layer's output is a ReLU's: `ReLU`, `Activation("relu")`, or a layer with `activation="relu"`."""
    if isinstance(layer, keras.layers.ReLU):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in RELU_ACTIVATIONS


def activation_probe(model, x):
    """`(layers, probe)`: the model's ReLU-family layers and a `keras.Model` from its inputs to their outputs.

    Functional and Sequential models have the layers' symbolic outputs; a
    subclassed model's `call` is run once on symbolic inputs shaped like `x`
    to get them. Layers whose output cannot be told apart (a layer called
    twice) are left out, and so are layers of nested models.
    """
    candidates = [layer for layer in model.layers if is_relu_layer(layer)]
    if not candidates:
        return [], None
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        inputs = keras.tree.map_structure(
            lambda a: keras.Input(shape=np.shape(a)[1:], dtype=str(np.asarray(a).dtype)), x
        )
        try:
            model.call(inputs)
        except Exception as e:  # a call that cannot run symbolically: no activation panel, said once
            warnings.warn(
                f"polykeras.TensorBoard: no activations for {model.name}: its call() does not run on "
                f"symbolic inputs ({type(e).__name__}: {e})",
                stacklevel=2,
            )
            return [], None
    layers, outputs = [], []
    for layer in candidates:
        try:
            outputs.append(layer.output)
        except (AttributeError, ValueError):
            continue
        layers.append(layer)
    if not layers:
        return [], None
    return layers, keras.Model(inputs, outputs, name=f"{model.name}_activations")


def activation_statistics(output, buckets=HISTOGRAM_BUCKETS):
    """`(dead fraction, bucket counts, bucket edges)` of one layer's output, in `keras.ops` (run on the device).

    The dead fraction is the share of last-axis units whose output is zero
    for every sample and position; the histogram spans the output's range.
    """
    units = keras.ops.reshape(output, (-1, keras.ops.shape(output)[-1]))
    alive = keras.ops.any(keras.ops.not_equal(units, 0), axis=0)
    dead = 1.0 - keras.ops.mean(keras.ops.cast(alive, "float32"))
    values = keras.ops.cast(keras.ops.reshape(output, (-1,)), "float32")
    low, high = keras.ops.min(values), keras.ops.max(values)
    pad = keras.ops.where(keras.ops.equal(low, high), 0.5, 0.0)  # one value: a unit-wide bucket range, as numpy's
    low, high = low - pad, high + pad
    # np.histogram's uniform buckets, the last one closed on the right.
    index = keras.ops.cast(keras.ops.floor((values - low) / (high - low) * buckets), "int32")
    index = keras.ops.clip(index, 0, buckets - 1)
    counts = keras.ops.segment_sum(keras.ops.ones_like(values), index, num_segments=buckets)
    edges = low + (high - low) * keras.ops.arange(buckets + 1, dtype="float32") / buckets
    return dead, counts, edges


class BatchProbe:
    """The fixed batch's gradients and ReLU-family outputs, from one function compiled once per fit.

    Args:
        model: The model being trained.
        batch: `(x, y, sample_weight)`, the callback's fixed batch.
        gradients: Whether to compute the loss's gradient per trainable variable.
        activations: Whether to compute the outputs of the ReLU-family layers.

    Attributes:
        layers: The ReLU-family layers whose outputs `__call__` returns.
    """

    def __init__(self, model, batch, gradients, activations):
        self.model, self.batch, self.gradients = model, batch, gradients
        self.layers, self._probe = activation_probe(model, batch[0]) if activations else ([], None)
        self._function = None

    def __call__(self, weights):
        """`(gradients by variable path, activation statistics by layer)` for `weights` (values of `model.variables`).

        Each layer's statistics are `activation_statistics`'s, computed on the
        device. Called on the callback's writer thread, with weights copied in
        the training loop: the model's variables are not touched.
        """
        with summary.paused():  # the model's own summaries are of its training, not of this batch
            if self._function is None:  # compiled on first use, for this model
                x, y, _ = self.batch
                self._function = backend.batch_function(
                    self.model, x, y, probe=self._probe, gradients=self.gradients, summarize=activation_statistics
                )
            gradients, outputs = self._function(weights)
        return dict(zip([v.path for v in self.model.trainable_variables], gradients, strict=True)), outputs


class Snapshot:
    """One log point: which summaries are due, the epoch's logs, and what panels share, computed once."""

    def __init__(self, model, step, logs, histograms, images, initial, probe=None):
        self.model, self.step, self.logs = model, step, logs
        self.histograms, self.images, self.initial = histograms, images, initial
        self._probe, self._values, self._batch = probe, None, None

    def values(self):
        """NumPy copies of `model.variables` (the weights and the random seeds' state), in order.

        Read from the device once for this log point.
        """
        if self._values is None:
            self._values = [read(v) for v in self.model.variables]
        return self._values

    def weights(self):
        """`{path: array}` of every weight of the model, as `model.weights` lists them (see `values`)."""
        by_id = dict(zip(map(id, self.model.variables), self.values(), strict=True))
        return {v.path: by_id[id(v)] for v in self.model.weights}

    def batch(self):
        """A function returning `(gradients by variable path, outputs by ReLU-family layer)` on the fixed batch.

        Call this in `Panel.log` (it copies the weights then) and the function
        it returns in a summary callable, on the writer thread: the fixed
        batch is computed there, once per log point (see `BatchProbe`).
        """
        values, probe = self.values(), self._probe
        if backend.PROBE_THREAD == "training" and self._batch is None:
            self._batch = probe(values)

        def computed():
            if self._batch is None:
                self._batch = probe(values)
            return self._batch

        return computed
