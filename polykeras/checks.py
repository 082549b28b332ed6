"""Argument checks shared across polykeras, each raising `InvalidArgumentError` that names the parameter.

Example:

>>> check_int(3, "epochs")
>>> check_number(0.5, "budget", at_least=0, below=1)
>>> type(make_optimizer("adam", 1e-3)).__name__
'Adam'
>>> check_int(0, "epochs")
Traceback (most recent call last):
...
polykeras.errors.InvalidArgumentError: epochs must be an integer >= 1. Received: epochs=0
>>> check_number(1, "budget", at_least=0, below=1)
Traceback (most recent call last):
...
polykeras.errors.InvalidArgumentError: budget must be a number in [0, 1). Received: budget=1
"""

import math

import keras
import numpy as np

from polykeras.errors import InvalidArgumentError


def check_int(value, name, at_least=1, at_most=None):
    """Raises `InvalidArgumentError` naming `name` unless `value` is an integer in [at_least, at_most]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < at_least or (
            at_most is not None and value > at_most):
        bounds = f">= {at_least}" if at_most is None else f"from {at_least} to {at_most}"
        raise InvalidArgumentError(f"{name} must be an integer {bounds}. Received: {name}={value!r}", name)


def check_number(value, name, *, above=None, at_least=None, below=None, at_most=None):
    """Raises `InvalidArgumentError` naming `name` unless `value` is a finite number within the bounds given."""
    bounds = [(sign, bound) for sign, bound in ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
              if bound is not None]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            math.isfinite(value) and all(_holds(value, sign, bound) for sign, bound in bounds)):
        if len(bounds) == 2:  # an interval: [0, 1)
            (low_sign, low), (high_sign, high) = bounds
            bounds = "in " + ("(" if low_sign == ">" else "[") + f"{low}, {high}" + (")" if high_sign == "<" else "]")
        else:
            bounds = " ".join(f"{sign} {bound}" for sign, bound in bounds)
        raise InvalidArgumentError(f"{name} must be a number {bounds}. Received: {name}={value!r}", name)


def _holds(value, sign, bound):
    return {">": value > bound, ">=": value >= bound, "<": value < bound, "<=": value <= bound}[sign]


def check_learning_rate(learning_rate):
    """Raises `InvalidArgumentError` unless `learning_rate` is a finite number > 0 (or a Keras schedule)."""
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        check_number(learning_rate, "learning_rate", above=0)


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
