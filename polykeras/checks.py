"""Argument checks shared across polykeras, each raising `InvalidArgumentError` with the received value.

Example:

>>> check_positive_int(3, "epochs")
>>> type(make_optimizer("adam", 1e-3)).__name__
'Adam'
>>> check_positive_int(0, "epochs")
Traceback (most recent call last):
...
polykeras.errors.InvalidArgumentError: epochs must be an integer > 0. Received: epochs=0
"""

import math

import keras
import numpy as np

from polykeras.errors import InvalidArgumentError


def check_positive_int(value, name):
    """Raises `InvalidArgumentError` unless `value` is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidArgumentError(f"{name} must be an integer > 0. Received: {name}={value!r}")


def check_non_negative_int(value, name):
    """Raises `InvalidArgumentError` unless `value` is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidArgumentError(f"{name} must be an integer >= 0. Received: {name}={value!r}")


def check_learning_rate(learning_rate):
    """Raises `InvalidArgumentError` unless `learning_rate` is a finite number > 0 (or a Keras schedule)."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return
    if isinstance(learning_rate, bool) or not (
        isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0
    ):
        raise InvalidArgumentError(f"learning_rate must be a number > 0. Received: learning_rate={learning_rate!r}")


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
