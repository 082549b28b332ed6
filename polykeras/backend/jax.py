"""JAX's way: `model.stateless_call(trainable, non_trainable, x)` is a pure function of the variables' values,
and `jax.grad` differentiates it with respect to its first argument only.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np

from polykeras.backend.common import HostSums, gradient_norm_name, loss_tracker, shuffled_batches

# XLA options for functions compiled to run rarely: LLVM's optimizations off, compiled in about 60 % of the time.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


# Where the TensorBoard callback computes the fixed batch (`batch_function`): on its writer thread, beside training.
PROBE_THREAD = "writer"


def polynomial_train_step(model, state, data):
    """`model.steps_per_batch` descent steps on one batch, inside one jitted call.

    Args:
        model: A compiled `PolynomialRegression`.
        state: `(trainable, non_trainable, optimizer, metrics)` variable values, as Keras's JAX trainer passes them.
        data: The batch.

    Returns:
        `(logs, new_state)`; the logs hold the metrics and `gradient_norm/<coefficients' path>`.
    """
    trainable, non_trainable, optimizer_values, metrics = state
    x, y = data[:2]

    def loss(trainable, non_trainable, optimizer_values):  # a pure function of the values
        return model.compute_loss_and_updates(
            trainable, non_trainable, metrics, x, y, None, training=True, optimizer_variables=optimizer_values
        )

    grad = jax.value_and_grad(loss, has_aux=True)  # with respect to the first argument: the trainable values

    def descend(carry):
        trainable, non_trainable, optimizer_values, loss_sum = carry[:4]
        (_, (loss_value, _, non_trainable, _)), gradients = grad(trainable, non_trainable, optimizer_values)
        trainable, optimizer_values = model.optimizer.stateless_apply(optimizer_values, gradients, trainable)
        return trainable, non_trainable, optimizer_values, loss_sum + loss_value, jnp.linalg.norm(gradients[0])

    carry = descend((trainable, non_trainable, optimizer_values, 0.0))
    if model.steps_per_batch > 1:
        carry = jax.lax.fori_loop(1, model.steps_per_batch, lambda _, c: descend(c), carry)
    trainable, non_trainable, optimizer_values, loss_sum, norm = carry

    # As TensorFlow's step: the tracker averages the loss of every descent step (each before its update).
    steps = model.steps_per_batch
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics, strict=True))) as scope:
        loss_tracker(model).update_state(loss_sum / steps, sample_weight=steps)
        logs = {metric.name: metric.result() for metric in model.metrics}
    metrics = [
        scope.get_current_value(v) if scope.get_current_value(v) is not None else old
        for v, old in zip(model.metrics_variables, metrics, strict=True)
    ]
    logs[gradient_norm_name(model.polynomial.basis_coefficients)] = norm
    return logs, (trainable, non_trainable, optimizer_values, metrics)


def batch_function(model, x, y, probe=None, gradients=True, loss=None, jit=True, summarize=None):
    """A function of the model's weight values returning `(gradients, outputs)` on a fixed batch, compiled once.

    Args:
        model: A built Keras model.
        x: Inputs, in any structure the model takes (several inputs too).
        y: Targets, in the form the loss takes.
        probe: A `keras.Model` sharing the model's layers whose outputs on
            `x` are wanted too (inference mode), or None. It is called
            statelessly on the same variable values as the model.
        gradients: Whether to compute the loss's gradient for each trainable variable.
        loss: `loss(y_true, y_pred)`; default the model's compiled loss.
        jit: Compile it with `jax.jit` (for repeated calls), with XLA's
            backend optimizations off: it runs on a small batch now and then,
            so compiling fast matters more than running fast.
        summarize: A function of one probe output (in `keras.ops`), applied
            inside the compiled function, so that only its result (a few
            numbers) leaves the device.

    Returns:
        `run(weights=None)`, returning `(gradients, outputs)`: a list of
        NumPy arrays, and one per probe output (or a list of them, with
        `summarize`). `weights` are values of `model.variables`, in order
        (NumPy copies taken earlier, say); by default the current ones.
        The model's variables are only read, never written, so `run` may
        be called from another thread while the model trains.
    """
    x, y = (keras.tree.map_structure(jnp.asarray, data) for data in (x, y))
    # The loss takes the metrics' values too (its tracker's); what it does with them is discarded.
    metrics = [np.zeros(v.shape, v.dtype) for v in model.metrics_variables]

    def value(trainable, non_trainable):
        y_pred, _ = model.stateless_call(trainable, non_trainable, x)  # inference: no dropout or augmentation
        if loss is not None:
            return loss(y, y_pred)
        return model.stateless_compute_loss(trainable, non_trainable, metrics, x=x, y=y, y_pred=y_pred, training=False)[
            0
        ]

    def compute(trainable, non_trainable):
        found = jax.grad(value)(trainable, non_trainable) if gradients else []
        outputs = []
        if probe is not None:  # the probe shares the model's variables: look their values up by identity
            values = dict(
                zip(
                    map(id, model.trainable_variables + model.non_trainable_variables),
                    list(trainable) + list(non_trainable),
                    strict=True,
                )
            )
            probe_values = [
                [values[id(v)] for v in variables]
                for variables in (probe.trainable_variables, probe.non_trainable_variables)
            ]
            outputs = keras.tree.flatten(probe.stateless_call(*probe_values, x)[0])
            if summarize is not None:
                outputs = [summarize(output) for output in outputs]
        return found, outputs

    compiled = None

    def run(weights=None):
        nonlocal compiled
        if weights is None:
            values = {id(v): v.value for v in model.variables}
        else:
            values = {id(v): w for v, w in zip(model.variables, weights, strict=True)}
        args = [
            [values[id(v)] for v in variables]
            for variables in (model.trainable_variables, model.non_trainable_variables)
        ]
        if not jit:
            found, outputs = compute(*args)
        else:
            args = keras.tree.map_structure(np.asarray, args)  # as compiled: host arrays, whatever the sharding
            if compiled is None:
                compiled = jax.jit(compute).lower(*args).compile(compiler_options=FAST_COMPILE)
            found, outputs = compiled(*args)
        return [np.asarray(g) for g in found], keras.tree.map_structure(np.asarray, outputs)

    return run


def gradient_by_variable(model, x, y):
    """`{variable path: gradient}` over all of the model's variables, None for the non-trainable ones.

    `stateless_call` takes trainable and non-trainable values as separate
    arguments; `jax.grad` differentiates with respect to the first only, so
    the non-trainable variables get no gradient by construction.
    """
    gradients = batch_function(model, x, y, jit=False)()[0]
    trainable = {v.path: g for v, g in zip(model.trainable_variables, gradients, strict=True)}
    return {v.path: trainable.get(v.path) for v in model.weights}


def fused(function):
    """`function` as one compiled kernel where the backend would run it op by op: JAX jits the training step whole."""
    return function


def jit(function):
    """`function` compiled once per argument shape and dtype, for repeated calls (`jax.jit`)."""
    return jax.jit(function)


def steps_per_execution(steps):
    """Training steps Keras runs per compiled call, for `steps` wanted: as many (a `jax.lax.fori_loop` inside)."""
    return steps


def adopt(model):
    """A model loaded from a `.keras` file saved on any backend, as it is.

    Keras compiles JAX's steps with XLA whatever the saved `jit_compile` says.
    """
    return model


def random_state():
    """The random state Keras draws from outside its variables, as NumPy arrays: none on JAX (seed generators
    are variables)."""
    return {}


def set_random_state(state):
    """Puts back what `random_state` returned."""


def read_variable(variable):
    """A NumPy copy of a Keras variable's current value."""
    return np.array(variable.value)


# Batches from a generator: Keras would cast NumPy arrays to float32.
fit_inputs = shuffled_batches


class _CallbackSums(HostSums):
    """Sums a compiled step adds to through `jax.debug.callback`, which runs on the host as the step runs."""

    def add(self, name, value):
        if isinstance(value, jax.core.Tracer):
            jax.debug.callback(lambda v: HostSums.add(self, name, np.asarray(v).item()), value)
        else:
            super().add(name, float(np.asarray(value)))

    def take(self):
        jax.effects_barrier()  # every callback of the steps dispatched so far has run
        return super().take()


def summary_sums():
    """Where `polykeras.summary.scalar` adds: host sums, through a host callback from inside `jax.jit`."""
    return _CallbackSums()


def native_summaries(log_dir, step, every):
    """None: TensorFlow's `tf.summary` is TensorFlow's (`polykeras.summary.scalar` is every backend's)."""
    return None
