#!/usr/bin/env python
"""How fast the polynomial learns: polykeras's default against the seed's TF1 program.

    .venv/bin/python benchmarks/poly_convergence.py [--repeats 5]

Prints, on the seed's data (y = 1 + 2x + 3x^2 + noise, 100 points on [-1, 1],
six coefficients from zeros):
1. steps and seconds to come within a 1e-3 relative coefficient gap of the
   float64 least-squares optimum, polykeras default against the TF1 program;
2. the seed-parity run (monomial basis, SGD 0.01, 1000 epochs) against the TF1
   session's 1000 steps, side by side, median of --repeats runs each, as a ratio.
3. the defaults on 1,000 points over several degrees, ranges and spreads of x:
   gap and MSE gap to least squares, epochs, training seconds.
Timings are printed, never asserted.
"""

import argparse
import os
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from polykeras.data import synthetic_polynomial
from polykeras.polynomial import fit_polynomial, least_squares, relative_gap
from polykeras.seed import run_seed_program

TARGET_GAP = 1e-3
DEGREE = 5
TF1_CHECK_EVERY = 10_000
TF1_STEPS = 100_000


class GapRecorder(keras.callbacks.Callback):
    """Records the power-basis gap to least squares after every epoch."""

    def __init__(self, reference):
        super().__init__()
        self.reference = reference
        self.gaps = []

    def on_epoch_end(self, epoch, logs=None):
        coefficients = self.model.get_layer("polynomial").coefficients()
        self.gaps.append(relative_gap(coefficients, self.reference))


def first_step_within(gaps_by_step):
    return next((step for step, gap in gaps_by_step if gap <= TARGET_GAP), None)


def gradient_descent_gaps(x, y, reference, learning_rate):
    """The exact gap after k steps of GD on the monomial MSE, as a function of k.

    The loss is quadratic, so from w = 0 the error after k steps is
    (I - lr * H)^k (0 - w*), with H = 2 V^T V / n; computed through H's eigenvectors.
    """
    vander = np.vander(x, DEGREE + 1, increasing=True)
    eigenvalues, vectors = np.linalg.eigh(2.0 * vander.T @ vander / len(x))
    start = vectors.T @ (-reference)
    return lambda k: float(np.linalg.norm((1.0 - learning_rate * eigenvalues) ** k * start) / np.linalg.norm(reference))


def steps_to_target(gap_after):
    low, high = 1, 2
    while gap_after(high) > TARGET_GAP:
        low, high = high, high * 2
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if gap_after(mid) > TARGET_GAP else (low, mid)
    return low


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x, y = synthetic_polynomial([1, 2, 3], samples=100, noise=0.1, x_range=(-1, 1), seed=0)
    reference = np.zeros(DEGREE + 1)
    lstsq = least_squares(x, y, DEGREE).convert().coef
    reference[: len(lstsq)] = lstsq

    # 1. Steps to the target gap.
    recorder = GapRecorder(reference)
    fit_polynomial(x, y, degree=DEGREE, epochs=25, callbacks=[recorder])
    pk_steps = first_step_within(enumerate(recorder.gaps, start=1))
    pk_seconds = fit_polynomial(x, y, degree=DEGREE, epochs=pk_steps).train_seconds
    _, tf1_run_seconds, trajectory = run_seed_program(x, y, steps=TF1_STEPS, record_every=TF1_CHECK_EVERY)
    gap_after = gradient_descent_gaps(x, y, reference, 0.01)
    tf1_steps = steps_to_target(gap_after)
    tf1_seconds = tf1_steps * tf1_run_seconds / TF1_STEPS

    print(f"steps to a {TARGET_GAP:g} gap to least squares (degree {DEGREE}, seed's data):")
    print(f"  {'':34} {'steps':>8} {'seconds':>9}")
    print(f"  {'polykeras default (legendre, 0.4)':34} {pk_steps:>8} {pk_seconds:>9.3f}   measured")
    print(
        f"  {'TF1 seed program (monomial, 0.01)':34} {tf1_steps:>8} {tf1_seconds:>9.1f}   "
        f"computed from the quadratic, at the measured {1e3 * tf1_run_seconds / TF1_STEPS:.3f} ms/step"
    )
    print(f"  ratio TF1 / polykeras: {tf1_steps / pk_steps:,.0f}x the steps, {tf1_seconds / pk_seconds:,.0f}x the time")
    print(
        "  TF1 gap, measured (computed):  "
        + "  ".join(
            f"{step // 1000}k: {relative_gap(w, reference):.3g} ({gap_after(step):.3g})"
            for step, w in trajectory
            if step and step % (TF1_STEPS // 4) == 0
        )
    )

    # 2. Seed parity run, side by side.
    tf1_times, pk_times, pk_logged = [], [], []
    for _ in range(args.repeats):
        tf1_times.append(run_seed_program(x, y, steps=1000)[1])
        parity = dict(degree=DEGREE, basis="monomial", optimizer="sgd", learning_rate=0.01, epochs=1000)
        pk_times.append(fit_polynomial(x, y, **parity).train_seconds)
        with tempfile.TemporaryDirectory() as runs_dir:  # what fit-poly logs
            pk_logged.append(fit_polynomial(x, y, runs_dir=runs_dir, **parity).train_seconds)
    tf1, pk, logged = (statistics.median(t) for t in (tf1_times, pk_times, pk_logged))
    print(f"\nseed parity run, 1000 steps, median of {args.repeats} (polykeras time includes tracing):")
    print(f"  TF1 session loop            {tf1:.3f} s")
    print(f"  polykeras fit               {pk:.3f} s   ratio {pk / tf1:.2f}")
    print(f"  polykeras fit + TensorBoard {logged:.3f} s   ratio {logged / tf1:.2f}")


def defaults_table():
    """The default fit on 1,000 points, for several degrees, x-ranges and spreads."""
    rng = np.random.default_rng(7)
    print("\ndefaults on 1,000 points (terms of comparable size over the range, noise 0.1):")
    print(f"  {'degree':>6} {'x range':>12} {'spread':>10} {'gap':>9} {'mse gap':>9} {'epochs':>6} {'seconds':>8}")
    for degree, (low, high), spread in [
        (2, (-1, 1), "uniform"),
        (5, (-3, 7), "clustered"),
        (8, (0, 1000), "uniform"),
        (8, (0, 1000), "clustered"),
        (8, (-3, 7), "clustered"),
        (3, (100, 101), "uniform"),
    ]:
        if spread == "uniform":
            x = rng.uniform(low, high, 1000)
        else:
            x = np.clip(
                np.r_[rng.normal(low + 0.15 * (high - low), 0.01 * (high - low), 900), rng.uniform(low, high, 100)],
                low,
                high,
            )
        scale = max(abs(low), abs(high))
        true = rng.normal(size=degree + 1) * 10.0 / scale ** np.arange(degree + 1)
        y = np.polynomial.polynomial.polyval(x, true) + 0.1 * rng.standard_normal(len(x))
        r = fit_polynomial(x, y, degree=degree)
        print(
            f"  {degree:>6} {f'[{low}, {high}]':>12} {spread:>10} {r.relative_coefficient_gap:9.2e} "
            f"{r.relative_mse_gap:9.2e} {r.epochs:>6} {r.train_seconds:8.3f}"
        )


if __name__ == "__main__":
    main()
    defaults_table()
