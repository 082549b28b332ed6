"""polykeras.checks: each check names the parameter and the value, and says the bounds it wanted."""

import keras
import numpy as np
import pytest

from polykeras.checks import check_int, check_learning_rate, check_number
from polykeras.errors import InvalidArgumentError

pytestmark = pytest.mark.any_backend


@pytest.mark.parametrize("value", [1, 5, np.int64(3), 10])
def test_an_integer_within_the_bounds_passes(value):
    check_int(value, "steps", at_least=1, at_most=10)


@pytest.mark.parametrize(
    "value, at_least, at_most, message",
    [
        (0, 1, None, "steps must be an integer >= 1. Received: steps=0"),
        (-1, 0, None, "steps must be an integer >= 0. Received: steps=-1"),
        (11, 1, 10, "steps must be an integer from 1 to 10. Received: steps=11"),
        (0, 1, 10, "steps must be an integer from 1 to 10. Received: steps=0"),
        (True, 0, None, "steps must be an integer >= 0. Received: steps=True"),
        (2.0, 1, None, "steps must be an integer >= 1. Received: steps=2.0"),
        ("3", 1, None, "steps must be an integer >= 1. Received: steps='3'"),
    ],
)
def test_what_is_not_such_an_integer_is_refused_by_name(value, at_least, at_most, message):
    with pytest.raises(InvalidArgumentError) as caught:
        check_int(value, "steps", at_least=at_least, at_most=at_most)
    assert str(caught.value) == message and caught.value.parameter == "steps"


def test_an_integer_is_at_least_1_unless_told_otherwise():
    check_int(1, "steps")
    with pytest.raises(InvalidArgumentError, match=r"^steps must be an integer >= 1\. Received: steps=0$"):
        check_int(0, "steps")


@pytest.mark.parametrize(
    "value, bounds",
    [
        (0.5, {"above": 0}),
        (0, {"at_least": 0}),
        (0.999, {"at_least": 0, "below": 1}),
        (1, {"at_most": 1}),
        (np.float32(0.5), {"above": 0, "at_most": 1}),
        (7, {}),
    ],
)
def test_a_number_within_the_bounds_passes(value, bounds):
    check_number(value, "share", **bounds)


@pytest.mark.parametrize(
    "value, bounds, shown",
    [
        (0, {"above": 0}, "> 0"),
        (-0.1, {"at_least": 0}, ">= 0"),
        (1, {"below": 1}, "< 1"),
        (1.5, {"at_most": 1}, "<= 1"),
        (1, {"at_least": 0, "below": 1}, "in [0, 1)"),
        (0, {"above": 0, "at_most": 1}, "in (0, 1]"),
        (float("inf"), {"above": 0}, "> 0"),
        (float("nan"), {}, ""),
        (True, {"at_least": 0}, ">= 0"),
        ("0.5", {"at_least": 0}, ">= 0"),
    ],
)
def test_what_is_not_such_a_number_is_refused_by_name(value, bounds, shown):
    with pytest.raises(InvalidArgumentError) as caught:
        check_number(value, "share", **bounds)
    stated = f"share must be a number {shown}" if shown else "share must be a number"
    assert str(caught.value) == f"{stated}. Received: share={value!r}"
    assert caught.value.parameter == "share"


def test_a_learning_rate_is_a_positive_number_or_a_schedule():
    check_learning_rate(1e-3)
    check_learning_rate(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    for bad in (0, -1.0, float("inf"), "0.1"):
        refused = r"^learning_rate must be a number > 0\. Received: learning_rate="
        with pytest.raises(InvalidArgumentError, match=refused):
            check_learning_rate(bad)
