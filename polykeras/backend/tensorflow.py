"""TensorFlow's way: a `GradientTape` watches the trainable variables while the loss is computed."""

import keras
import numpy as np
import tensorflow as tf

from polykeras.backend.common import loss_tracker


# Where the TensorBoard callback computes the fixed batch (`batch_function`): on its writer thread, beside training.
PROBE_THREAD = "writer"

def polynomial_train_step(model, data):
    """`model.steps_per_batch` descent steps on one batch, inside one graph call.

    Returns:
        The logs: the metrics and `gradient_norm/<coefficients' path>`.
    """
    x, y = data[:2]
    variable = model.polynomial.basis_coefficients

    def descend():
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(gradients, model.trainable_variables)
        loss_tracker(model).update_state(loss)  # compute_loss leaves the tracker to the caller
        return tf.norm(gradients[0])

    if model.steps_per_batch == 1:
        norm = descend()
    else:
        _, norm = tf.while_loop(
            lambda step, _: step < model.steps_per_batch,
            lambda step, _: (step + 1, descend()),
            (tf.constant(0), tf.zeros((), variable.dtype)),
        )
    # The gradient norm rides along in the logs, where the TensorBoard callback finds it.
    return {**model.get_metrics_result(), f"gradient_norm/{variable.path}": norm}


def batch_function(model, x, y, probe=None, gradients=True, loss=None, jit=True, summarize=None):
    """A function of the model's weight values returning `(gradients, outputs)` on a fixed batch, traced once.

    Args:
        model: A built Keras model.
        x: Inputs, in any structure the model takes (several inputs too).
        y: Targets, in the form the loss takes.
        probe: A `keras.Model` sharing the model's layers whose outputs on
            `x` are wanted too (inference mode), or None.
        gradients: Whether to compute the loss's gradient for each trainable
            variable (zeros where none flows).
        loss: `loss(y_true, y_pred)`; default the model's compiled loss.
        jit: Trace it with `tf.function` (for repeated calls).
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
    x, y = (keras.tree.map_structure(lambda a: tf.constant(np.asarray(a)), data) for data in (x, y))
    trainable, non_trainable = model.trainable_variables, model.non_trainable_variables

    def compute(trainable_values, non_trainable_values):
        mapping = list(zip(trainable, trainable_values)) + list(zip(non_trainable, non_trainable_values))
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(trainable_values)
            with keras.StatelessScope(state_mapping=mapping):  # the model computes with these values
                outputs = [] if probe is None else keras.tree.flatten(probe(x, training=False))
                if summarize is not None:
                    outputs = [summarize(output) for output in outputs]
                if gradients:
                    y_pred = model(x, training=False)
                    value = model.compute_loss(x=x, y=y, y_pred=y_pred) if loss is None else loss(y, y_pred)
        if not gradients:
            return [], outputs
        found = tape.gradient(value, trainable_values)
        return [tf.zeros_like(v) if g is None else g for g, v in zip(found, trainable_values)], outputs

    compiled = tf.function(compute, autograph=False) if jit else compute

    def run(weights=None):
        if weights is None:
            values = {id(v): tf.convert_to_tensor(v.value) for v in model.variables}
        else:
            values = {id(v): tf.convert_to_tensor(w, dtype=v.dtype) for v, w in zip(model.variables, weights)}
        found, outputs = compiled([values[id(v)] for v in trainable], [values[id(v)] for v in non_trainable])
        return [np.asarray(g) for g in found], keras.tree.map_structure(np.asarray, outputs)

    return run


def gradient_function(model, x, y, loss=None, jit=True):
    """A function returning the gradient of the loss on `(x, y)` for each trainable variable (see `batch_function`)."""
    compute = batch_function(model, x, y, loss=loss, jit=jit)
    return lambda: compute()[0]


def gradient_by_variable(model, x, y):
    """`{variable path: gradient}` over all of the model's variables, None where the tape gives none.

    The tape watches trainable variables only, so `tape.gradient` returns
    None for every non-trainable one: they are left alone by the optimizer.
    """
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    gradients = tape.gradient(loss, model.weights)
    return {v.path: None if g is None else np.asarray(g) for v, g in zip(model.weights, gradients)}


def fused(function):
    """`function` compiled by XLA into one kernel (`tf.function(jit_compile=True)`), inside Keras's graphs too.

    TensorFlow runs a graph op by op; for dozens of small elementwise ops on
    a batch of images that costs several times the arithmetic.
    """
    return tf.function(function, jit_compile=True, autograph=False, reduce_retracing=True)


def jit(function):
    """`function` traced once per argument shape and dtype, for repeated calls (`tf.function`)."""
    return tf.function(function, autograph=False)


def steps_per_execution(steps):
    """Training steps Keras runs per compiled call, for `steps` wanted: as many (a `tf.while_loop` inside)."""
    return steps


def adopt(model):
    """A model loaded from a `.keras` file saved on any backend, as it is: XLA on TensorFlow runs where the saved `jit_compile` says."""
    return model


def random_state():
    """The random state Keras draws from outside its variables: none on TensorFlow (seed generators are variables)."""
    return None


def set_random_state(state):
    """Puts back what `random_state` returned."""
    return None


def read_variable(variable):
    """A NumPy copy of a Keras variable's current value: one `ReadVariableOp` (`.numpy()` adds an `Identity`)."""
    value = variable.value
    return (value.value() if isinstance(value, tf.Variable) else value).numpy()


def set_random_seed(seed):
    """Seeds Python, NumPy, Keras and TensorFlow (`keras.utils.set_random_seed`)."""
    keras.utils.set_random_seed(seed)


def fit_inputs(x, y, batch_size, seed):
    """`model.fit` arguments for endless batches of `(x, y)`: one pass is `ceil(n / batch_size)` steps.

    A `tf.data` stream built once: Keras builds a new pipeline from NumPy
    arrays every epoch, which costs more than a polynomial's whole epoch.
    """
    if batch_size >= len(x):
        data = tf.data.Dataset.from_tensors((x, y)).repeat()
    else:
        data = tf.data.Dataset.from_tensor_slices((x, y))
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size).repeat()
    return {"x": data, "steps_per_epoch": -(-len(x) // batch_size)}
