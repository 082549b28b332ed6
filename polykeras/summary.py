"""Scalars written from inside a model, on every backend and under `jit_compile=True`: `scalar(name, value)`.

A layer's `call` or a model's `train_step` may want to log what only it sees
(an activation's mean, a gradient's norm). TensorFlow has `tf.summary.scalar`
for that, which the TensorBoard callback catches on TensorFlow (see
`polykeras.tensorboard.callback`); this is the same for any backend, compiled
or not:

    class Scaled(keras.layers.Layer):
        def call(self, x):
            polykeras.summary.scalar("scaled/input_mean", keras.ops.mean(x))
            return 2 * x

Each value is added to a running sum, the backend's own way
(`polykeras.backend.summary_sums`): a variable assigned in the compiled step
on TensorFlow, a host callback under `jax.jit` on JAX, a tensor kept on
PyTorch. `polykeras.TensorBoard` takes the means when validation starts and
when an epoch ends, and writes each as a scalar of its own name, in `train/`
for what training added and in `validation/` for what validation added, at
the epoch's step. Nothing is added while the callback computes on its fixed
batch (`paused`).

Example:

>>> import numpy as np
>>> _ = take()
>>> for value in (1.0, 2.0, 6.0):
...     scalar("mean_of_three", np.float32(value))
>>> take()
{'mean_of_three': 3.0}
"""

import contextlib
import threading

import keras

from polykeras import backend

_PAUSED = threading.local()
_SUMS = None


def _sums():
    global _SUMS
    if _SUMS is None:
        _SUMS = backend.summary_sums()
    return _SUMS


def scalar(name, value):
    """Adds `value`, a scalar tensor or number, to `name`'s sum for this epoch; callable in compiled steps too."""
    if getattr(_PAUSED, "paused", False) or isinstance(value, keras.KerasTensor):
        return  # the callback's own computation, or Keras working out the model's shapes
    _sums().add(str(name), value)


def take():
    """`{name: mean}` of what was added since the last take, and a fresh start."""
    return _sums().take()


@contextlib.contextmanager
def paused():
    """Nothing is added in this thread inside the block (nor, traced inside it, by the function compiled then)."""
    before = getattr(_PAUSED, "paused", False)
    _PAUSED.paused = True
    try:
        yield
    finally:
        _PAUSED.paused = before
