"""polykeras.bounds: whether a value is within bounds, and how the bounds read, for the library and the CLI alike."""

import math

import numpy as np
import pytest

from polykeras import bounds

pytestmark = pytest.mark.any_backend  # no Keras


@pytest.mark.parametrize(
    "value, limits, inside",
    [
        (0.0, {"above": 0}, False),
        (1e-300, {"above": 0}, True),
        (0, {"at_least": 0}, True),
        (-1e-9, {"at_least": 0}, False),
        (1, {"below": 1}, False),
        (0.999, {"below": 1}, True),
        (1, {"at_most": 1}, True),
        (1.001, {"at_most": 1}, False),
        (0.5, {"at_least": 0, "below": 1}, True),
        (np.float32(0.5), {"above": 0, "at_most": 1}, True),  # numpy's numbers are numbers
        (np.int64(3), {}, True),
        (math.inf, {}, False),
        (-math.inf, {"below": 0}, False),
        (math.nan, {}, False),
        (True, {}, False),  # a bool is not a number here, though Python counts it as one
        ("0.5", {}, False),
        (None, {}, False),
    ],
)
def test_within_holds_every_bound_of_a_finite_real_number(value, limits, inside):
    assert bounds.within(value, bounds.given(**limits)) is inside


def test_bounds_read_lower_first_as_intervals_or_single_signs():
    assert bounds.given(at_most=1, above=0) == [(">", 0), ("<=", 1)]
    assert bounds.described(bounds.given(above=0, at_most=1)) == "in (0, 1]"
    assert bounds.described(bounds.given(at_least=0, below=1)) == "in [0, 1)"
    assert bounds.described(bounds.given(at_least=0.0, at_most=8.0)) == "in [0, 8]"  # as typed, not 8.0
    assert bounds.described(bounds.given(above=0)) == "> 0"
    assert bounds.described(bounds.given(at_least=1e-05)) == ">= 1e-05"
    assert bounds.described(bounds.given(below=2)) == "< 2" and bounds.described(bounds.given(at_most=2)) == "<= 2"
    assert bounds.must_be("share", []) == "share must be a number"
    assert bounds.must_be("--dropout", bounds.given(at_least=0, below=1)) == "--dropout must be a number in [0, 1)"


@pytest.mark.parametrize(
    "value, at_least, at_most, inside",
    [
        (1, 1, None, True),
        (0, 1, None, False),
        (10, 1, 10, True),
        (11, 1, 10, False),
        (np.int32(5), 1, 10, True),
        (5.0, 1, 10, False),  # a float is not an integer, even a whole one
        (True, 0, None, False),
        ("5", 1, None, False),
    ],
)
def test_whole_is_an_integer_within_its_bounds(value, at_least, at_most, inside):
    assert bounds.whole(value, at_least, at_most) is inside


def test_integer_bounds_read_as_at_least_or_a_range():
    assert bounds.integer_must_be("epochs", 1) == "epochs must be an integer >= 1"
    assert bounds.integer_must_be("--degree", 0, 30) == "--degree must be an integer from 0 to 30"
