"""The polynomial's TensorBoard panel and coefficient recorder: event files read back, tags and values asserted."""

import copy
import glob
import os

import keras
import numpy as np
import pytest
from helpers import read_run

from polykeras.data import synthetic_polynomial
from polykeras.polynomial import fit_polynomial, least_squares_coefficients
from polykeras.polynomial_panel import CoefficientHistory, PolynomialPanel, equation
from polykeras.tensorboard import TensorBoard


def test_polynomial_run_logs_every_coefficient_from_zero(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3], samples=100)
    panel = PolynomialPanel(reference=least_squares_coefficients(x, y, 5))
    callback = TensorBoard(tmp_path, data=(x, y), panels=("weights", panel))
    result = fit_polynomial(x, y, degree=5, callbacks=[callback])
    run = read_run(tmp_path / "train")
    assert set(run) == {
        *(f"coefficients/c{k}" for k in range(6)),
        "coefficients/gap_to_least_squares",
        "fit/equation",
        "fit/curve",
        "epoch_loss",
        "epoch_learning_rate",
        "weight_norm/polynomial",
        "polynomial/coefficients/histogram",
        "polynomial/domain_min/histogram",
        "polynomial/domain_max/histogram",
        "polynomial/basis_transform/histogram",
        "gradient_norm/polynomial",
        "custom_scalars__config__",
    }
    for k in range(6):
        steps, values = zip(*run[f"coefficients/c{k}"], strict=True)
        assert steps == tuple(range(21))
        assert values[0] == 0.0
        assert float(values[-1]) == pytest.approx(result.coefficients[k], rel=1e-6, abs=1e-7)
    gaps = [float(v) for _, v in run["coefficients/gap_to_least_squares"]]
    assert gaps[0] == 1.0 and gaps[-1] < 1e-3
    # The fitted curve: at step 0, every image_freq epochs and at the end.
    assert [s for s, _ in run["fit/curve"]] == [0, 5, 10, 15, 20]
    width, height = (int(v) for v in run["fit/curve"][0][1][:2])
    assert (width, height) == (480, 320)
    assert run["fit/equation"][-1][1].item().decode().startswith("y = 1.03")
    assert [float(v) for _, v in run["epoch_learning_rate"]] == pytest.approx([0.4] * 20)
    losses = [float(v) for _, v in run["epoch_loss"]]
    assert losses[0] == pytest.approx(np.mean(y**2), rel=1e-6) and losses[-1] == pytest.approx(result.mse, rel=1e-3)
    # Reported by the model's train_step, so from the first epoch on.
    steps, norms = zip(*run["gradient_norm/polynomial"], strict=True)
    assert steps == tuple(range(1, 21)) and float(norms[0]) > 1.0 and float(norms[-1]) < 1e-6
    np.testing.assert_allclose(
        float(run["weight_norm/polynomial"][-1][1]),
        np.linalg.norm(keras.ops.convert_to_numpy(result.model.polynomial.basis_coefficients)),
        rtol=1e-6,
    )


def test_the_panel_plugs_in_for_every_polynomial_layer_by_default(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3], samples=100)
    callback = TensorBoard(tmp_path, histogram_freq=0, image_freq=0)
    result = fit_polynomial(x, y, degree=2, epochs=3, callbacks=[callback])
    run = read_run(tmp_path / "train")
    assert {"coefficients/c0", "coefficients/c1", "coefficients/c2", "fit/equation"} <= set(run)
    assert "coefficients/gap_to_least_squares" not in run and "fit/curve" not in run  # no reference, no data
    assert float(run["coefficients/c2"][-1][1]) == pytest.approx(result.coefficients[2], rel=1e-6)


def test_grouped_epochs_log_steps_in_passes(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3], samples=100)
    callback = TensorBoard(tmp_path, image_freq=0, histogram_freq=0)
    fit_polynomial(x, y, degree=5, basis="monomial", learning_rate=0.01, epochs=1000, callbacks=[callback])
    steps = [s for s, _ in read_run(tmp_path / "train")["coefficients/c0"]]
    assert steps == list(range(0, 1001, 20))


def test_callback_can_be_deep_copied_before_and_after_training(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    callback = TensorBoard(tmp_path, data=(x, y))
    copy.deepcopy(callback)
    fit_polynomial(x, y, degree=2, epochs=2, callbacks=[callback])
    clone = copy.deepcopy(callback)
    assert clone.log_dir == str(tmp_path) and clone._summaries is None and clone.data[0] is not x
    np.testing.assert_array_equal(clone.data[0], x)
    assert len(glob.glob(os.path.join(tmp_path, "train", "events.out.tfevents.*"))) == 1


def test_equation_text():
    assert equation([1, -2, 3]) == "y = 1 - 2·x + 3·x²"
    assert equation([-0.5, 0, 1.25, 0, 0, 0, 0, 0, 0, 0, 0, 2]).endswith("+ 2·x¹¹")


def test_coefficient_history_walks_from_zero_to_the_learned_values():
    x, y = synthetic_polynomial([1, 2, 3], x_range=(0.0, 50.0))
    history = CoefficientHistory()
    result = fit_polynomial(x, y, degree=2, epochs=10, callbacks=[history])
    assert history.steps == list(range(11))
    np.testing.assert_array_equal(history.coefficients[0], np.zeros(3))
    np.testing.assert_allclose(history.coefficients[-1], result.coefficients, rtol=1e-12)


def test_diverged_weights_do_not_stop_the_logging(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3], x_range=(-5.0, 5.0))
    callback = TensorBoard(tmp_path, image_freq=1, data=(x, y))
    # A rate far past the stable range: the coefficients overflow to inf and NaN within the run.
    fit_polynomial(x, y, degree=5, basis="monomial", learning_rate=50.0, epochs=40, callbacks=[callback])
    run = read_run(tmp_path / "train")
    assert [s for s, _ in run["coefficients/c0"]] == list(range(41))
    assert not np.isfinite(float(run["coefficients/c0"][-1][1]))
    assert [s for s, _ in run["polynomial/coefficients/histogram"]] == list(range(41))


def test_callback_can_be_reused_after_a_fit_that_raised(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    callback = TensorBoard(tmp_path, image_freq=0)

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_polynomial(x, y, degree=2, epochs=5, callbacks=[callback, Stop()])
    assert len(read_run(tmp_path / "train")["epoch_loss"]) == 1  # the epoch before the interrupt, on disk
    fit_polynomial(x, y, degree=2, epochs=3, callbacks=[callback])  # would hang if the first writer stayed open
    assert len(glob.glob(os.path.join(tmp_path, "train", "events.out.tfevents.*"))) == 2
