"""Numeric bounds as the checks hold and state them: whether a value is within, and how to say the bounds.

The library's checks (`polykeras.checks`) and the command line's
(`polykeras_cli.checks`, which loads this file without importing polykeras)
share it, so that a bound reads the same wherever it is refused. It imports
nothing of polykeras's and nothing of Keras's.

Example:

>>> bounds = given(at_least=0, below=1)
>>> within(0.5, bounds), within(1.0, bounds), within(float("nan"), given()), described(bounds)
(True, False, False, 'in [0, 1)')
>>> described(given(above=0)), described(given())
('> 0', '')
>>> whole(3, at_least=1), whole(3.0, at_least=1), integer_must_be("epochs", 1, 10)
(True, False, 'epochs must be an integer from 1 to 10')
"""

import math
import numbers

_HOLDS = {
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
}


def given(above=None, at_least=None, below=None, at_most=None):
    """`[(sign, bound)]` for the bounds that are not None, lower ones first."""
    pairs = ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
    return [(sign, bound) for sign, bound in pairs if bound is not None]


def within(value, bounds):
    """Whether `value` is a finite real number (not a bool) that holds every bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return False
    return all(_HOLDS[sign](value, bound) for sign, bound in bounds)


def described(bounds):
    """The bounds as a message says them: `"in [0, 1)"` for two, `"> 0"` for one, `""` for none."""
    if len(bounds) == 2:
        (low_sign, low), (high_sign, high) = bounds
        return f"in {'(' if low_sign == '>' else '['}{low:g}, {high:g}{')' if high_sign == '<' else ']'}"
    if not bounds:
        return ""
    ((sign, bound),) = bounds
    return f"{sign} {bound:g}"


def must_be(name, bounds):
    """`"<name> must be a number in [0, 1)"`: what a refusal says first."""
    return f"{name} must be a number" + (f" {described(bounds)}" if bounds else "")


def whole(value, at_least, at_most=None):
    """Whether `value` is an integer (not a bool) in [at_least, at_most]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return bool(value >= at_least and (at_most is None or value <= at_most))


def integer_must_be(name, at_least, at_most=None):
    """`"<name> must be an integer >= 1"`, or `from 1 to 10` with an upper bound."""
    return f"{name} must be an integer " + (f">= {at_least}" if at_most is None else f"from {at_least} to {at_most}")
