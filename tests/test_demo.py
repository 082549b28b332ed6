"""What `polykeras demo` computes, checked against least squares (the CLI test checks what it prints)."""

import numpy as np
import pytest

from polykeras.data import synthetic_polynomial
from polykeras.demo import SEED_PROBLEM, what_gets_a_gradient


def test_only_the_coefficients_get_a_gradient_of_twice_the_least_squares_fits_rms():
    """At c = 0, d mse / dc = -(2/n) B^T y; with the basis orthonormal on the data its norm is 2 ||y_hat|| / sqrt(n)."""
    x, y = synthetic_polynomial(**{k: v for k, v in SEED_PROBLEM.items() if k != "degree"})
    rows = what_gets_a_gradient(x, y, SEED_PROBLEM["degree"])
    fitted = np.polyval(np.polyfit(x, y, SEED_PROBLEM["degree"]), x)  # float64 least squares
    assert [(r["variable"], r["trainable"]) for r in rows] == [
        ("coefficients", True),
        ("domain_min", False),
        ("domain_max", False),
        ("basis_transform", False),
    ]
    assert rows[0]["gradient_norm"] == pytest.approx(2 * np.sqrt(np.mean(fitted**2)), rel=1e-6)
    assert [r["gradient_norm"] for r in rows[1:]] == [None, None, None]
    assert rows[0]["shape"] == (6,) and rows[3]["shape"] == (6, 6)
