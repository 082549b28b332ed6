"""Optimizers: made by name, copied with another rate, unwrapped, and a model compiled again with another one.

Example:

>>> optimizer = make_optimizer("rmsprop", 0.1)
>>> copy = with_learning_rate(optimizer, 0.02)
>>> type(copy).__name__, round(float(copy.learning_rate), 6)
('RMSprop', 0.02)
>>> schedule_of(make_optimizer("sgd", keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))).__class__.__name__
'ExponentialDecay'
"""

import keras

from polykeras import keras_compat
from polykeras.checks import check_learning_rate
from polykeras.errors import InvalidArgumentError
from polykeras.saving import compile_config, optimizer_config


def make_optimizer(name, learning_rate):
    """Any Keras optimizer by name (`"sgd"`, `"adam"`, ...) with a learning rate or schedule.

    Raises:
        InvalidArgumentError: for an unknown name or a learning rate that is not > 0.
    """
    check_learning_rate(learning_rate)
    try:
        optimizer = keras.optimizers.get(name)
    except ValueError:
        raise InvalidArgumentError(f"unknown Keras optimizer. Received: optimizer={name!r}") from None
    return type(optimizer)(learning_rate=learning_rate)


def inner_optimizer(optimizer):
    """The optimizer whose rate the steps use: the inner one of a `LossScaleOptimizer` (mixed precision)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def schedule_of(optimizer):
    """The optimizer's learning-rate schedule, or None when its rate is a constant."""
    rate = keras_compat.schedule_or_rate(inner_optimizer(optimizer))
    return rate if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) else None


def with_learning_rate(optimizer, rate, keep_schedule=True):
    """A new optimizer like `optimizer` (same class and settings) with learning rate `rate`.

    A schedule keeps its shape, its `initial_learning_rate` becoming `rate`,
    unless `keep_schedule` is False.
    """
    config = optimizer_config(optimizer)
    current = config.get("learning_rate")
    if keep_schedule and isinstance(current, dict) and "initial_learning_rate" in current.get("config", {}):
        config["learning_rate"] = {**current, "config": {**current["config"], "initial_learning_rate": rate}}
    else:
        config["learning_rate"] = rate
    return type(optimizer).from_config(config)


def recompile(model, optimizer, like=None):
    """Compiles `model` as `like` (default: itself) is compiled, with `optimizer` instead, and builds the optimizer.

    Built now, so that a trial Hyperband continues from a checkpoint gets its optimizer state back.
    """
    config = keras.saving.deserialize_keras_object(compile_config(like or model))
    config["optimizer"] = optimizer
    model.compile(**config)
    model.optimizer.build(model.trainable_variables)
