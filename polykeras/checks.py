"""Argument checks shared across polykeras, each raising `InvalidArgumentError` that names the parameter.

Example:

>>> check_int(3, "epochs")
>>> check_number(0.5, "budget", at_least=0, below=1)
>>> check_int(0, "epochs")
Traceback (most recent call last):
...
polykeras.errors.InvalidArgumentError: epochs must be an integer >= 1. Received: epochs=0
>>> check_number(1, "budget", at_least=0, below=1)
Traceback (most recent call last):
...
polykeras.errors.InvalidArgumentError: budget must be a number in [0, 1). Received: budget=1
"""

import keras

from polykeras import bounds
from polykeras.errors import InvalidArgumentError


def check_int(value, name, at_least=1, at_most=None):
    """Raises `InvalidArgumentError` naming `name` unless `value` is an integer in [at_least, at_most]."""
    if not bounds.whole(value, at_least, at_most):
        refused = bounds.integer_must_be(name, at_least, at_most)
        raise InvalidArgumentError(f"{refused}. Received: {name}={value!r}", name)


def check_number(value, name, *, above=None, at_least=None, below=None, at_most=None):
    """Raises `InvalidArgumentError` naming `name` unless `value` is a finite number within the bounds given."""
    limits = bounds.given(above, at_least, below, at_most)
    if not bounds.within(value, limits):
        raise InvalidArgumentError(f"{bounds.must_be(name, limits)}. Received: {name}={value!r}", name)


def check_learning_rate(learning_rate):
    """Raises `InvalidArgumentError` unless `learning_rate` is a finite number > 0 (or a Keras schedule)."""
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        check_number(learning_rate, "learning_rate", above=0)
