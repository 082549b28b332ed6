"""TensorFlow's way: a `GradientTape` watches the trainable variables while the loss is computed."""

import os
import threading

import keras
import numpy as np
import tensorflow as tf

from polykeras.backend.common import gradient_norm_name, loss_tracker

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
    return {**model.get_metrics_result(), gradient_norm_name(variable): norm}


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
        mapping = list(zip(trainable, trainable_values, strict=True)) + list(
            zip(non_trainable, non_trainable_values, strict=True)
        )
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
        return [tf.zeros_like(v) if g is None else g for g, v in zip(found, trainable_values, strict=True)], outputs

    compiled = tf.function(compute, autograph=False) if jit else compute

    def run(weights=None):
        if weights is None:
            values = {id(v): tf.convert_to_tensor(v.value) for v in model.variables}
        else:
            values = {
                id(v): tf.convert_to_tensor(w, dtype=v.dtype) for v, w in zip(model.variables, weights, strict=True)
            }
        found, outputs = compiled([values[id(v)] for v in trainable], [values[id(v)] for v in non_trainable])
        return [np.asarray(g) for g in found], keras.tree.map_structure(np.asarray, outputs)

    return run


def gradient_by_variable(model, x, y):
    """`{variable path: gradient}` over all of the model's variables, None where the tape gives none.

    The tape watches trainable variables only, so `tape.gradient` returns
    None for every non-trainable one: they are left alone by the optimizer.
    """
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    gradients = tape.gradient(loss, model.weights)
    return {v.path: None if g is None else np.asarray(g) for v, g in zip(model.weights, gradients, strict=True)}


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
    """A model loaded from a `.keras` file saved on any backend, as it is (XLA where the saved `jit_compile` says)."""
    return model


def random_state():
    """The random state Keras draws from outside its variables, as NumPy arrays: none on TensorFlow (seed generators
    are variables)."""
    return {}


def set_random_state(state):
    """Puts back what `random_state` returned."""


def read_variable(variable):
    """A NumPy copy of a Keras variable's current value: one `ReadVariableOp` (`.numpy()` adds an `Identity`)."""
    value = variable.value
    return (value.value() if isinstance(value, tf.Variable) else value).numpy()


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


class _VariableSums:
    """Sums held in TensorFlow variables, made on first use outside any graph, and added to by the compiled step
    (with XLA too); read and set back to zero when taken."""

    def __init__(self):
        self._variables = {}
        self._lock = threading.Lock()

    def add(self, name, value):
        with self._lock:
            if name not in self._variables:
                with tf.init_scope():
                    self._variables[name] = (
                        tf.Variable(0.0, dtype=tf.float64, trainable=False),
                        tf.Variable(0, dtype=tf.int64, trainable=False),
                    )
        total, count = self._variables[name]
        total.assign_add(tf.cast(tf.reshape(value, ()), tf.float64))
        count.assign_add(1)

    def take(self):
        taken = {}
        for name, (total, count) in list(self._variables.items()):
            added = int(count.numpy())
            if added:
                taken[name] = float(total.numpy()) / added
            total.assign(0.0)
            count.assign(0)
        return taken


def summary_sums():
    """Where `polykeras.summary.scalar` adds: TensorFlow variables, which a compiled step adds to."""
    return _VariableSums()


class NativeSummaries:
    """TensorFlow's own summary writers for a run's `train/` and `validation/` folders, each made the default
    while `fit` trains or validates, so that `tf.summary.*` calls in a layer or a `train_step` land there.

    A writer's file that received no summary is removed when it closes, so
    a model that writes none leaves one event file per folder, polykeras's.

    Args:
        log_dir: The run's folder.
        step: The optimizer's step count (a variable: each summary takes its value when it is written).
        every: Write every this many steps, or None for every step.
    """

    def __init__(self, log_dir, step, every):
        self._log_dir, self._step = log_dir, step
        self._writers = {}  # made on first use, so that a run without validation has no `validation/` folder
        self._files = {}  # the event file each writer made
        self._record = (lambda: True) if every is None else (lambda: tf.equal(step % every, 0))
        self._entered = []
        self._thread = threading.get_ident()  # TensorFlow's default writer is the entering thread's

    def use(self, part):
        """Makes the writer of `part` (`"train"` or `"validation"`) the default; None for neither."""
        while self._entered:
            self._entered.pop().__exit__(None, None, None)
        if part is None:
            return
        if part not in self._writers:
            folder = os.path.join(self._log_dir, part)
            before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
            self._writers[part] = tf.summary.create_file_writer(folder)
            self._files[part] = [os.path.join(folder, name) for name in set(os.listdir(folder)) - before]
        for context in (self._writers[part].as_default(step=self._step), tf.summary.record_if(self._record)):
            context.__enter__()
            self._entered.append(context)

    def close(self):
        """Closes the writers, removing the files that hold no summary.

        From another thread than the one that made them the default (a
        `wait()` after a `fit` that raised), it can only flush them: that
        thread's default writer is its own to reset.
        """
        if threading.get_ident() != self._thread:
            for writer in self._writers.values():
                writer.flush()
            return
        self.use(None)
        for part, writer in self._writers.items():
            writer.close()
            for path in self._files[part]:
                if os.path.exists(path) and _records(path) <= 1:  # the file's header alone
                    os.remove(path)


def _records(path):
    """How many TFRecords a file holds: each is its length (8 bytes), a checksum (4), the data, a checksum (4)."""
    count, size = 0, os.path.getsize(path)
    with open(path, "rb") as f:
        while f.tell() < size:
            (length,) = np.frombuffer(f.read(8), "<u8")
            f.seek(4 + int(length) + 4, os.SEEK_CUR)
            count += 1
    return count


def native_summaries(log_dir, step, every):
    """`NativeSummaries` for `fit`: on TensorFlow, a model's own `tf.summary` calls land in the run's folders."""
    return NativeSummaries(log_dir, step.value, every)
