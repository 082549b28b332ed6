"""The sweep: one optimizer step per rate, on the user's model, left exactly as it was afterwards.

`lr_find` trains with `model.train_on_batch`, Keras's own training step, one
batch at a time: before each step it sets the step's rate, and after it reads
that step's loss (Keras resets the metrics for each such call, so the loss is
the batch's own, not a running mean). While it sweeps:

- a model compiled with `steps_per_execution` > 1 is set to 1: each rate is
  one `train_on_batch` call, one batch, and Keras's PyTorch trainer refuses
  to build a training function with more than one step per call;
- an optimizer with a learning-rate schedule follows the sweep's rates
  instead (a schedule of the sweep's own, swapped in through the public
  `learning_rate` setter); the schedule is back afterwards;
- a `LossScaleOptimizer` (mixed precision) sweeps its inner optimizer's rate.

Gradient accumulation (`gradient_accumulation_steps`) is refused: each rate
would move the weights once per several batches.

Every variable of the model (weights, non-trainable statistics, random-seed
states, metrics) and of its optimizer (moments, step count, loss scale, the
learning rate) is copied first and put back after, whether the sweep ended,
diverged or raised; so are the backend's own random state (PyTorch's global
generator, which Keras's dropout draws from there), `steps_per_execution` and
the schedule, and the training function Keras compiled is made again by the
next `fit` when either had to change.
"""

import contextlib
import math

import keras
import numpy as np

from polykeras import backend, keras_compat
from polykeras.checks import check_int
from polykeras.errors import InvalidArgumentError


def base_optimizer(optimizer):
    """The optimizer whose rate is set: the inner one of a `LossScaleOptimizer`."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def check_sweepable(model):
    """Raises `InvalidArgumentError` unless `model` is a compiled Keras model whose optimizer takes one rate a step."""
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        raise InvalidArgumentError(f"model must be a compiled keras.Model. Received: model={model!r}", "model")
    accumulation = getattr(base_optimizer(model.optimizer), "gradient_accumulation_steps", None) or getattr(
        model.optimizer, "gradient_accumulation_steps", None)
    if accumulation and accumulation > 1:
        raise InvalidArgumentError(
            "lr_find gives every optimizer step a rate of its own; an optimizer with gradient accumulation updates "
            "the weights once per several batches. Compile a copy without it for the sweep. Received: "
            f"gradient_accumulation_steps={accumulation}", "model")


class SweepRates(keras.optimizers.schedules.LearningRateSchedule):
    """The sweep's rates as a schedule, for an optimizer that has one: `rates[step - first_step]`, clipped.

    Args:
        start: The first rate.
        stop: The last rate.
        steps: Rates from `start` to `stop`, spread exponentially.
        first_step: The optimizer's step count when the sweep starts.
    """

    def __init__(self, start, stop, steps, first_step):
        self.start, self.stop, self.steps, self.first_step = float(start), float(stop), int(steps), int(first_step)

    def __call__(self, step):
        done = keras.ops.cast(step, "float32") - float(self.first_step)
        fraction = keras.ops.clip(done / max(self.steps - 1, 1), 0.0, 1.0)
        return self.start * keras.ops.exp(fraction * math.log(self.stop / self.start))

    def get_config(self):
        return {"start": self.start, "stop": self.stop, "steps": self.steps, "first_step": self.first_step}


@contextlib.contextmanager
def sweeping(model, start, stop, steps):
    """Prepares a built `model` to sweep (see the module's doc) and puts everything back on exit.

    Yields:
        `set_rate(rate)`, to call before each step (a schedule's rates follow the step count instead).
    """
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    inner = base_optimizer(optimizer)
    variables = [*model.variables, *model.metrics_variables, *optimizer.variables]
    saved = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    spe = model.steps_per_execution
    schedule = keras_compat.schedule_or_rate(inner)
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        schedule = None
    rebuild = spe != 1 or schedule is not None
    random_state = backend.random_state()
    try:
        model.steps_per_execution = 1
        if schedule is not None:
            inner.learning_rate = SweepRates(start, stop, steps, int(keras.ops.convert_to_numpy(inner.iterations)))
        if rebuild:
            model.make_train_function(force=True)
        yield (lambda rate: None) if schedule is not None else (lambda rate: setattr(inner, "learning_rate", rate))
    finally:
        model.steps_per_execution = spe
        if schedule is not None:
            inner.learning_rate = schedule
        model.reset_metrics()  # metrics built during the sweep start from zero, as before their first fit
        for variable, value in zip(variables, saved):
            variable.assign(value)
        backend.set_random_state(random_state)
        if rebuild:
            model.train_function = None  # made again, as compiled, by the next fit


# ----------------------------------------------------------------------------
# Batches, from whatever `fit` takes


def batches(x, y=None, sample_weight=None, batch_size=32, seed=0):
    """Endless `(x, y, sample_weight)` batches from any input `fit` takes, in a seeded order for arrays.

    Args:
        x: Arrays, or lists or dicts of arrays (with `y`); a
            `keras.utils.PyDataset`; a `tf.data.Dataset`; or any Python
            iterable or generator of `(x, y)` or `(x, y, sample_weight)` batches.
        y: Targets, with arrays.
        sample_weight: Weights per sample, with arrays.
        batch_size: Samples per batch, with arrays (every batch full).
        seed: Seed of the arrays' order (a new shuffle every pass).

    Yields:
        Batches; an iterator that ends (a generator) ends them.
    """
    if isinstance(x, keras.utils.PyDataset):
        yield from _pydataset_batches(x)
    elif _is_array_like(x):
        yield from _array_batches(x, y, sample_weight, batch_size, seed)
    elif hasattr(x, "__iter__"):  # a tf.data.Dataset, a generator, a torch DataLoader, any iterable of batches
        if y is not None or sample_weight is not None:
            raise InvalidArgumentError("y and sample_weight go with arrays; a dataset or generator yields them in "
                                       f"each batch. Received: x of type {type(x).__name__} and y", "y")
        yield from _iterable_batches(x)
    else:
        raise InvalidArgumentError(f"x must be arrays (or lists or dicts of them), a keras.utils.PyDataset, a "
                                   f"tf.data.Dataset or an iterable of batches. Received: x of type "
                                   f"{type(x).__name__}", "x")


def _is_array_like(x):
    if isinstance(x, dict):
        return all(_is_array_like(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(hasattr(v, "shape") and hasattr(v, "__len__") for v in x)
    return hasattr(x, "shape") and hasattr(x, "__len__") and len(getattr(x, "shape", ())) > 0


def _array_batches(x, y, sample_weight, batch_size, seed):
    if y is None:
        raise InvalidArgumentError("y is needed with array inputs. Received: y=None", "y")
    check_int(batch_size, "batch_size")
    count = len(keras.tree.flatten(x)[0])
    if count < batch_size:
        raise InvalidArgumentError(f"batch_size is larger than the {count} samples. Received: batch_size={batch_size}",
                                   "batch_size")
    arrays = [None if part is None else keras.tree.map_structure(np.asarray, part) for part in (x, y, sample_weight)]
    take = lambda part, index: None if part is None else keras.tree.map_structure(lambda a: a[index], part)  # noqa: E731
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count)
        for k in range(count // batch_size):
            index = order[k * batch_size:(k + 1) * batch_size]
            yield tuple(take(part, index) for part in arrays)


def _pydataset_batches(dataset):
    while True:
        for k in range(len(dataset)):
            yield keras.utils.unpack_x_y_sample_weight(_as_tuple(dataset[k]))
        dataset.on_epoch_end()


def _iterable_batches(iterable):
    while True:
        iterator = iter(iterable)
        for batch in iterator:
            yield keras.utils.unpack_x_y_sample_weight(_as_tuple(batch))
        if iterator is iterable:  # a generator or iterator: it cannot start again
            return


def _as_tuple(batch):
    return tuple(batch) if isinstance(batch, list) else batch
