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
