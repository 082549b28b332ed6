"""The few things polykeras does the backend's own way, each one function behind one name.

Keras 3 runs the same model on TensorFlow and JAX; polykeras's layers use only
`keras.ops`. Three things differ, and each backend module provides them:

- `polynomial_train_step(model, *args)`: `PolynomialRegression`'s several
  descent steps per call. TensorFlow calls `train_step(data)` and updates
  variables in place (`tf.GradientTape`, `tf.while_loop`); JAX calls
  `train_step(state, data)` with the variables' values and wants new values
  back (`jax.value_and_grad`, `jax.lax.fori_loop`, `optimizer.stateless_apply`).
- `batch_function(model, x, y, probe=None, gradients=True, ...)`: on a fixed
  batch, the loss's gradient for every trainable variable and a probe
  model's outputs, in one compiled function (the TensorBoard callback's);
  `gradient_function(model, x, y, loss=None, jit=True)`: the gradients alone.
- `gradient_by_variable(model, x, y)`: which of the model's variables receive
  a gradient at all, computed the way the backend decides it (see `polykeras demo`).
- `fit_inputs(x, y, batch_size, seed)`: `model.fit` arguments that stream
  batches cheaply (`tf.data` on TensorFlow, NumPy arrays on JAX).
- `set_random_seed(seed)`: Keras's seed, without importing TensorFlow into a
  JAX process.
- `jit(function)`: `function` compiled once (`tf.function`, `jax.jit`), for
  small functions called often, such as a learning-rate schedule.
- `read_variable(variable)`: a NumPy copy of a variable's value, the fastest
  way the backend has (the TensorBoard callback reads a few every epoch).

Example:

>>> from polykeras import backend
>>> backend.name() in ("tensorflow", "jax")
True
"""

import keras


def name():
    """The Keras backend in use: `"tensorflow"` or `"jax"`."""
    return keras.backend.backend()


if name() == "jax":
    from polykeras.backend.jax import (  # noqa: F401
        batch_function,
        fit_inputs,
        gradient_by_variable,
        fused,
        gradient_function,
        jit,
        polynomial_train_step,
        read_variable,
        set_random_seed,
    )
elif name() == "tensorflow":
    from polykeras.backend.tensorflow import (  # noqa: F401
        batch_function,
        fit_inputs,
        gradient_by_variable,
        fused,
        gradient_function,
        jit,
        polynomial_train_step,
        read_variable,
        set_random_seed,
    )
else:
    raise ImportError(f"polykeras runs on the tensorflow and jax backends. Received: KERAS_BACKEND={name()!r}")
