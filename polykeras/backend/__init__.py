"""The few things polykeras does the backend's own way, each one function behind one name.

Keras 3 runs the same model on TensorFlow, JAX and PyTorch; polykeras's layers use only
`keras.ops`. A few things differ, and each backend module provides them:

- `polynomial_train_step(model, *args)`: `PolynomialRegression`'s several
  descent steps per call. TensorFlow calls `train_step(data)` and updates
  variables in place (`tf.GradientTape`, `tf.while_loop`); JAX calls
  `train_step(state, data)` with the variables' values and wants new values
  back (`jax.value_and_grad`, `jax.lax.fori_loop`, `optimizer.stateless_apply`);
  PyTorch calls `train_step(data)` eagerly (`loss.backward()`, then `.grad`).
- `batch_function(model, x, y, probe=None, gradients=True, ...)`: on a fixed
  batch, the loss's gradient for every trainable variable and a probe
  model's outputs, in one compiled function (the TensorBoard callback's).
- `gradient_by_variable(model, x, y)`: which of the model's variables receive
  a gradient at all, computed the way the backend decides it (see `polykeras demo`).
- `fit_inputs(x, y, batch_size, seed)`: `model.fit` arguments that stream
  batches cheaply (`tf.data` on TensorFlow, a generator of NumPy arrays on
  JAX and PyTorch).
- `jit(function)`: `function` compiled once (`tf.function`, `jax.jit`; as it
  is on PyTorch), for small functions called often, such as a learning-rate
  schedule.
- `steps_per_execution(steps)`: the training steps per compiled call that
  Keras takes on the backend, for `steps` wanted (one on PyTorch).
- `adopt(model)`: a model loaded from a file saved on any backend, set to
  run as this backend runs its own (no `torch.compile` on PyTorch).
- `random_state()`, `set_random_state(state)`: the random state Keras draws
  from outside its variables (PyTorch's global generators), as NumPy arrays,
  kept and put back.
- `PROBE_THREAD`: where the TensorBoard callback computes its fixed batch,
  `"writer"` (its writer thread, beside training) or `"training"` (at the
  log point, on the training thread: PyTorch, whose eager ops would start a
  second pool of math threads).
- `read_variable(variable)`: a NumPy copy of a variable's value, the fastest
  way the backend has (the TensorBoard callback reads a few every epoch).
- `summary_sums()`: where `polykeras.summary.scalar` adds its values, from
  inside a compiled step too (variables on TensorFlow, a host callback on JAX).
- `native_summaries(log_dir, step, every)`: on TensorFlow, its own summary
  writers, made the default while `fit` runs (None elsewhere).

Done the same way on every backend, here: `gradient_function` (the gradients
of `batch_function` alone) and `set_random_seed` (Keras's seed, without
importing TensorFlow into a JAX or PyTorch process).

Example:

>>> from polykeras import backend
>>> backend.name() in backend.BACKENDS
True
"""

import importlib

import keras

from polykeras import keras_compat
from polykeras.backend_choice import BACKENDS, EXTRAS


def name():
    """The Keras backend in use: `"tensorflow"`, `"jax"` or `"torch"`."""
    return keras.backend.backend()


if name() not in BACKENDS:
    raise ImportError(
        f"Keras was imported on the {name()} backend, where polykeras does not run: set KERAS_BACKEND to one of "
        f"{', '.join(BACKENDS)} before Keras is imported ({EXTRAS}). Received: keras.backend.backend()={name()!r}"
    )
_module = importlib.import_module(f"polykeras.backend.{name()}")
adopt = _module.adopt
batch_function = _module.batch_function
fit_inputs = _module.fit_inputs
fused = _module.fused
gradient_by_variable = _module.gradient_by_variable
jit = _module.jit
polynomial_train_step = _module.polynomial_train_step
PROBE_THREAD = _module.PROBE_THREAD
random_state = _module.random_state
read_variable = _module.read_variable
set_random_state = _module.set_random_state
steps_per_execution = _module.steps_per_execution
summary_sums = _module.summary_sums
native_summaries = _module.native_summaries


def gradient_function(model, x, y, loss=None, jit=True):
    """A function returning the gradient of the loss on `(x, y)` for each trainable variable (see `batch_function`)."""
    compute = batch_function(model, x, y, loss=loss, jit=jit)
    return lambda: compute()[0]


def set_random_seed(seed):
    """Seeds Python, NumPy, Keras and the backend (`keras.utils.set_random_seed`) without importing TensorFlow.

    Keras's `set_random_seed` also seeds TensorFlow whenever TensorFlow can be
    imported, which loads all of it (seconds and hundreds of MB) into a JAX
    or PyTorch process; `keras_compat.tensorflow_hidden` keeps it out.
    """
    with keras_compat.tensorflow_hidden():
        keras.utils.set_random_seed(seed)
