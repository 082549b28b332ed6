"""The TF1 seed program itself, kept runnable as the reference polykeras is compared with."""

import numpy as np
import pytest

from polykeras.data import synthetic_polynomial
from polykeras.seed import run_seed_program

pytestmark = pytest.mark.tensorflow


def test_the_seed_program_learns_from_zeros_in_its_own_graph():
    x, y = synthetic_polynomial([1, 2, 3])
    w, seconds, trajectory = run_seed_program(x, y, steps=200, record_every=100)
    assert [step for step, _ in trajectory] == [0, 100, 200]
    np.testing.assert_array_equal(trajectory[0][1], np.zeros(6))  # tf.Variable([0.] * 6)
    loss = [np.mean((np.polynomial.Polynomial(c)(x) - y) ** 2) for _, c in trajectory]
    assert loss[0] > loss[1] > loss[2]  # the optimizer, not the initial value, makes it learn
    np.testing.assert_allclose(w, trajectory[-1][1])
    assert seconds > 0
