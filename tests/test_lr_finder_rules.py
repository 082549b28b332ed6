"""polykeras.lr_finder.rules: smoothing, each rule on curves whose points are known, and curves not to be trusted."""

import numpy as np
import pytest

from polykeras.lr_finder import rules


def test_smoothing_is_a_bias_corrected_moving_average():
    # By hand, beta 0.5: 0.5 / 0.5; (0.25 + 1) / 0.75; (0.625 + 1.5) / 0.875.
    np.testing.assert_allclose(rules.smooth([1.0, 2.0, 3.0], beta=0.5), [1.0, 5 / 3, 17 / 7])


RATES = np.geomspace(1e-4, 10, 101)  # 20 rates a decade
_DECADES = np.log10(RATES)
# Rising slowly to 1e-3 (no valley there), a descent steepest at 1e-2, the lowest loss near 0.1, then an explosion.
CURVE = np.select(
    [RATES < 1e-3, RATES <= 0.1],
    [3.0 + 0.01 * (_DECADES + 4), 3.01 - 1.4 * (1 + np.tanh(1.5 * (_DECADES + 2)))],
    3.01 - 1.4 * (1 + np.tanh(1.5)) + 8 * (_DECADES + 1) ** 2,
)


def test_each_rule_on_a_curve_whose_points_are_known():
    assert all(isinstance(rule(RATES, CURVE), float) for rule in rules.RULES.values())
    lowest = RATES[np.argmin(CURVE)]
    assert lowest / 10 <= rules.minimum(RATES, CURVE) <= lowest / 10 * 10**0.5  # late by the moving average
    assert 1e-2 <= rules.steepest(RATES, CURVE) <= 1e-2 * 10**0.5
    # fastai's valley: halfway along the longest descent, here from 1e-3 to the minimum (late by the average).
    assert 10**-2.25 <= rules.valley(RATES, CURVE) <= 10**-1.5


@pytest.mark.parametrize(
    "losses, diverged, reason",
    [
        (np.full(50, 1.0) + np.linspace(0, 0.01, 50), False, "no clear descent"),
        (np.r_[np.full(3, 1.0), np.geomspace(1.0, 1e6, 10)], True, "diverged before it descended"),
        (np.linspace(1.0, 0.9, 60) + np.random.default_rng(0).normal(0, 0.5, 60) + 2, False, "noise"),
    ],
)
def test_a_curve_that_cannot_be_trusted_says_why(losses, diverged, reason):
    assert reason in rules.why_untrusted(np.geomspace(1e-5, 1, len(losses)), losses, diverged)


def test_a_clean_curve_is_trusted():
    assert rules.why_untrusted(RATES, CURVE + np.random.default_rng(0).normal(0, 0.01, len(RATES))) is None


def test_descent_looks_only_at_the_final_descent_so_noise_on_the_plateau_does_not_fool_it():
    assert 1e-2 <= rules.descent(RATES, CURVE) <= 1e-2 * 10**0.5  # steepest's answer on a clean curve
    noisy = CURVE.copy()
    noisy[15] -= 1.5  # one batch far below the plateau, near 5.6e-4: the steepest fall of the smoothed curve
    assert rules.steepest(RATES, noisy) < 1e-3  # fooled (Lightning#1767)
    assert 1e-2 <= rules.descent(RATES, noisy) <= 1e-2 * 10**0.5


# ----------------------------------------------------------------------------
# Each rule's arithmetic, on curves short enough to follow by hand


@pytest.fixture
def unsmoothed(monkeypatch):
    """The rules read the losses as given: smoothing is tested on its own (above)."""
    monkeypatch.setattr(rules, "smooth", lambda values: np.asarray(values, np.float64))


def test_the_first_tenth_and_the_last_five_steps_are_left_out_unless_too_few_would_remain():
    rates = np.geomspace(1e-4, 1, 20, dtype=np.float32)
    kept, smoothed = rules._trimmed(rates, np.linspace(2.0, 1.0, 20))
    assert kept.dtype == np.float64 and len(smoothed) == 13
    np.testing.assert_array_equal(kept, rates[2:15].astype(np.float64))  # int(20 * 0.1) to 20 - 5
    assert len(rules._trimmed(rates[:8], np.ones(8))[0]) == 3  # 8 steps: 0 to 3, just enough
    assert len(rules._trimmed(rates[:7], np.ones(7))[0]) == 7  # 7: two would remain, so all are kept
    # A loss that turned NaN makes every later average NaN: the finite points are kept, when two or more are.
    kept, smoothed = rules._trimmed(rates[:7], [1.0, 0.5, np.nan, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(kept, rates[:2].astype(np.float64))
    assert np.isfinite(smoothed).all()


def test_minimum_is_a_tenth_of_the_lowest_points_rate(unsmoothed):
    rates = np.geomspace(1e-3, 1, 7)
    assert rules.minimum(rates, [3.0, 2.0, 1.0, 0.5, 0.7, 0.9, 1.0]) == rates[3] / 10


def test_the_steepest_fall_is_measured_against_the_rates_logarithm():
    # From 1 to 10 the loss falls 1 over ln 10; from 10 to 11 it falls 0.5 over ln 1.1, ten times as steep.
    assert rules._steepest_of(np.array([1.0, 10.0, 11.0, 12.0]), np.array([1.0, 0.0, -0.5, -0.6])) == 10.0
    assert rules._steepest_of(np.array([3.0]), np.array([1.0])) == 3.0  # one point: its rate


# The rates are uneven on purpose: a fall from 1 to 1.001 is steeper than any other, so a descent that
# started there would pick 1.
UNEVEN = np.array([1.0, 1.001, 2.0, 4.0, 8.0, 16.0, 32.0])


@pytest.mark.parametrize(
    "losses, expected",
    [
        # Lowest at 3: the plateau is the first point (5), the level 0.2 + 0.9 * 4.8 = 4.52, and only the first
        # point lies above it, so the descent starts there, and its steepest fall is the first.
        ([5.0, 4.3, 1.0, 0.2, 4.0, 6.0, 7.0], 1.0),
        # Lowest at 4: the plateau is the median of the first two (5), the level exactly 4.5; 4.5 counts as above,
        # so the descent starts at 2 and the steep fall from 1 to 1.001 is not on it.
        ([6.0, 4.0, 4.5, 2.9, 0.0, 2.0, 3.0], 4.0),
        # Rising from the start: the lowest point is the first, and its rate is the answer.
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 1.0),
    ],
)
def test_descent_starts_at_the_last_point_above_nine_tenths_of_the_plateau(unsmoothed, losses, expected):
    assert rules.descent(UNEVEN, losses) == expected


@pytest.mark.parametrize(
    "smoothed, expected",
    [
        ([3.0, 1.0, 2.0, 1.5, 1.2, 0.5, 4.0], (0, 5)),  # 3 > 2 > 1.5 > 1.2 > 0.5: five long, ending at 5
        ([2.0, 1.0], (-1, 1)),  # fastai's start: the end less the length
        ([7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], (-1, 6)),
        ([1.0, 2.0, 3.0], (0, 0)),  # no descent at all
        ([2.0, 1.0, 1.0, 0.5], (0, 3)),  # strictly descending: an equal step does not lengthen the valley
        ([1.0, 3.0, 2.0, 2.5, 1.0], (1, 4)),  # 3 > 2 > 1 beats 3 > 2.5 > 1 only by coming first
    ],
)
def test_the_longest_valley_is_fastais(smoothed, expected):
    assert rules._longest_valley(np.array(smoothed)) == expected


def test_valley_is_a_third_and_a_half_along_the_longest_valley(unsmoothed):
    rates = np.arange(1.0, 8.0)
    # From -1 to 6: a third of 7 is 2 (rounded down), and half of that third 1: index 2.
    assert rules.valley(rates, [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]) == 3.0
    assert rules.valley(rates, [3.0, 1.0, 2.0, 1.5, 1.2, 0.5, 4.0]) == 2.0  # 0 to 5: index 1 + 0


def test_a_rule_is_named_or_a_function_and_anything_else_is_refused_by_name():
    from polykeras.errors import InvalidArgumentError

    assert list(rules.RULES) == ["descent", "valley", "minimum", "steepest"] and rules.DEFAULT_RULE == "descent"
    for name, function in rules.RULES.items():
        assert rules.rule(name) == (name, function)

    def mine(rates, losses):
        return 1e-3

    class Fixed:
        def __call__(self, rates, losses):
            return 1e-3

    fixed = Fixed()
    assert rules.rule(mine) == ("mine", mine) and rules.rule(fixed) == ("Fixed", fixed)
    for wrong in ("steep", 3):
        with pytest.raises(InvalidArgumentError) as caught:
            rules.rule(wrong)
        assert str(caught.value) == (
            "suggest must be one of descent, valley, minimum, steepest or a function of (rates, losses). "
            f"Received: suggest={wrong!r}"
        )
        assert caught.value.parameter == "suggest"


RATES4 = np.geomspace(1e-4, 1e-1, 4)


@pytest.mark.parametrize(
    "losses, diverged, reason",
    [
        ([1.0, 2.0, np.nan, np.nan], False, "the loss was not finite after 2 steps: every rate tried was too large"),
        # 0.0888 below a start of 2: 4.44 %, which rounds to 4.4 (a rate of 4.48 would round to 4.5).
        (
            [2.0, 1.9112, 10.0, 100.0],
            True,
            "the loss diverged before it descended (it fell 4.4 % below its start first): start the sweep at a lower "
            "rate",
        ),
        ([2.0, 1.9112, 2.0, 2.0], False, "no clear descent: the smoothed loss fell 4.4 % below its start"),
        ([20.0, 19.0, 30.0, 30.0], False, None),  # 1 below 20: 5 % exactly is a clear descent
        ([20.0, 19.0, 30.0, 30.0], True, None),
        ([0.0, 0.0, 0.0, 0.0], False, "no clear descent: the smoothed loss fell 0.0 % below its start"),
        ([5e-324, -1.0, -1.0, -1.0], False, "the loss is not finite"),  # a share of the start that overflows
    ],
)
def test_each_reason_not_to_trust_a_curve_in_full(unsmoothed, losses, diverged, reason):
    assert rules.why_untrusted(RATES4, losses, diverged) == reason


def test_a_curve_is_not_called_diverged_unless_it_did_and_a_few_finite_steps_are_enough():
    assert rules.why_untrusted(RATES4, [1.0, 1.0, 1.0, 1.0]).startswith("no clear descent")
    assert rules.why_untrusted(RATES4, [1.0, 0.5, 0.1, np.nan]) is None  # three finite steps, smoothed


def test_the_noise_is_the_spread_of_the_raw_losses_around_the_smoothed_curve():
    losses = np.array([1.0, 2.0, 0.0, 2.0, 0.0, 0.0, 0.3])
    smoothed = rules.smooth(losses)
    lowest = int(np.argmin(smoothed))
    noise, fall = float(np.std((losses - smoothed)[: lowest + 1])), smoothed[0] - smoothed[lowest]
    assert noise > fall
    assert rules.why_untrusted(np.geomspace(1e-4, 1, 7), losses) == (
        f"the noise (a spread of {noise:.3g} around the smoothed curve) is larger than the descent ({fall:.3g}): "
        "try a larger batch_size or more steps"
    )
    assert f"{noise:.3g}" == "0.636" and f"{fall:.3g}" == "0.335"
