"""The TensorBoard callback: event files read back, tags and values asserted."""

import copy
import glob
import io
import os

import keras
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from polykeras import backend
from polykeras.callbacks import INITIAL_KERNEL_FILE, TensorBoard, equation, histogram_summary, kernel_grid
from polykeras.data import load_mnist, synthetic_polynomial
from polykeras.mnist import mnist_mlp, train_mnist
from polykeras.polynomial import fit_polynomial, least_squares_coefficients


def read_run(folder):
    """{tag: [(step, value), ...]} for every tensor summary under `folder`."""
    accumulator = EventAccumulator(folder, size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def test_polynomial_run_logs_every_coefficient_from_zero(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3], samples=100)
    callback = TensorBoard(tmp_path, data=(x, y), reference=least_squares_coefficients(x, y, 5))
    result = fit_polynomial(x, y, degree=5, callbacks=[callback])
    callback.wait()
    run = read_run(str(tmp_path / "train"))
    assert set(run) == {
        *(f"coefficients/c{k}" for k in range(6)), "coefficients/gap_to_least_squares",
        "fit/equation", "fit/curve", "epoch_loss", "optimizer/learning_rate",
        "weights/polynomial/coefficients", "weights/polynomial/domain_min", "weights/polynomial/domain_max",
        "weights/polynomial/basis_transform", "gradient_norm/polynomial/coefficients", "custom_scalars__config__",
    }
    for k in range(6):
        steps, values = zip(*run[f"coefficients/c{k}"])
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
    assert float(run["optimizer/learning_rate"][-1][1]) == pytest.approx(0.4)
    losses = [float(v) for _, v in run["epoch_loss"]]
    assert losses[0] == pytest.approx(np.mean(y**2), rel=1e-6) and losses[-1] == pytest.approx(result.mse, rel=1e-3)
    # Reported by the model's train_step, so from the first epoch on.
    steps, norms = zip(*run["gradient_norm/polynomial/coefficients"])
    assert steps == tuple(range(1, 21)) and float(norms[0]) > 1.0 and float(norms[-1]) < 1e-6


def test_grouped_epochs_log_steps_in_passes(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3], samples=100)
    callback = TensorBoard(tmp_path, image_freq=0, histogram_freq=0)
    fit_polynomial(x, y, degree=5, basis="monomial", learning_rate=0.01, epochs=1000, callbacks=[callback])
    callback.wait()
    steps = [s for s, _ in read_run(str(tmp_path / "train"))["coefficients/c0"]]
    assert steps == list(range(0, 1001, 20))


def test_mlp_run_logs_histograms_gradients_and_the_kernel_grid(tmp_path):
    *data, _ = load_mnist("sample")
    (x_test, y_test) = data[1]
    batch = (x_test[:64], keras.utils.to_categorical(y_test[:64], 10))
    callback = TensorBoard(tmp_path, image_freq=1, data=batch)
    result = train_mnist(data, epochs=2, hidden=(32,), augment=False, callbacks=[callback])
    callback.wait()
    run = read_run(str(tmp_path / "train"))
    weights = ["hidden_1/kernel", "hidden_1/bias", "digits/kernel", "digits/bias"]
    assert set(run) == {
        "epoch_loss", "epoch_accuracy", "optimizer/learning_rate", "weights/hidden_1_kernels",
        "weights/hidden_1_learned", *(f"weights/{w}" for w in weights), *(f"gradient_norm/{w}" for w in weights),
    }
    # W0 is the kernel Keras initialised (same seed), and the last "learned" image draws W - W0.
    backend.set_random_seed(0)
    initial = mnist_mlp(hidden=(32,), augment=False).get_layer("hidden_1").kernel.numpy()
    np.testing.assert_array_equal(np.load(tmp_path / INITIAL_KERNEL_FILE), initial)
    final = result.model.get_layer("hidden_1").kernel.numpy()
    step, image = run["weights/hidden_1_learned"][-1]
    drawn = np.asarray(Image.open(io.BytesIO(image[2])))
    assert step == 2 and not np.array_equal(kernel_grid(final), kernel_grid(final - initial))
    np.testing.assert_array_equal(drawn, kernel_grid(final - initial))
    assert [s for s, _ in run["weights/hidden_1/kernel"]] == [0, 1, 2]
    counts = run["weights/hidden_1/kernel"][-1][1][:, 2]
    assert counts.sum() == 784 * 32
    width, height = (int(v) for v in run["weights/hidden_1_kernels"][0][1][:2])
    assert (width, height) == (2 * (6 * 29 + 1), 2 * (6 * 29 + 1))  # 32 units: 6 x 6 tiles
    assert all(float(v) > 0 for _, v in run["gradient_norm/hidden_1/kernel"])


def test_validation_metrics_go_to_their_own_folder(tmp_path):
    x, y = synthetic_polynomial([1, 2], samples=50)
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    callback = TensorBoard(tmp_path, histogram_freq=0)
    model.fit(x[:, None], y, validation_split=0.2, epochs=3, verbose=0, callbacks=[callback])
    callback.wait()
    assert set(read_run(str(tmp_path / "validation"))) == {"epoch_loss"}
    assert [s for s, _ in read_run(str(tmp_path / "train"))["epoch_loss"]] == [1, 2, 3]


def test_callback_can_be_deep_copied_before_and_after_training(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    callback = TensorBoard(tmp_path, data=(x, y))
    copy.deepcopy(callback)
    fit_polynomial(x, y, degree=2, epochs=2, callbacks=[callback])
    clone = copy.deepcopy(callback)  # while its writer thread may still run
    callback.wait()
    assert clone.log_dir == str(tmp_path) and clone._thread is None and clone.data[0] is not x
    np.testing.assert_array_equal(clone.data[0], x)
    assert len(glob.glob(os.path.join(tmp_path, "train", "events.out.tfevents.*"))) == 1


def test_equation_text():
    assert equation([1, -2, 3]) == "y = 1 - 2·x + 3·x²"
    assert equation([-0.5, 0, 1.25, 0, 0, 0, 0, 0, 0, 0, 0, 2]) .endswith("+ 2·x¹¹")


def test_histogram_buckets_count_every_value():
    values = np.arange(1000.0)
    table = tensor_util.make_ndarray(histogram_summary("h", values).value[0].tensor)
    assert table.shape == (30, 3) and table[:, 2].sum() == 1000 and table[0, 0] == 0 and table[-1, 1] == 999
    constant = tensor_util.make_ndarray(histogram_summary("h", np.ones(5)).value[0].tensor)
    assert constant[:, 2].sum() == 5


def test_kernel_grid_draws_zero_as_grey():
    grid = kernel_grid(np.zeros((784, 4)), scale=1)
    assert grid.shape == (2 * 29 + 1, 2 * 29 + 1)
    assert grid[1:29, 1:29].min() == grid[1:29, 1:29].max() == 128


@pytest.mark.parametrize("name, value", [("histogram_freq", -1), ("image_freq", 1.5)])
def test_rejects_bad_frequencies(name, value):
    with pytest.raises(ValueError, match=f"Received: {name}={value}"):
        TensorBoard("logs", **{name: value})


def test_coefficient_history_walks_from_zero_to_the_learned_values():
    from polykeras.callbacks import CoefficientHistory

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
    callback.wait()
    run = read_run(str(tmp_path / "train"))
    assert [s for s, _ in run["coefficients/c0"]] == list(range(41))
    assert not np.isfinite(float(run["coefficients/c0"][-1][1]))
    assert [s for s, _ in run["weights/polynomial/coefficients"]] == list(range(41))


def test_callback_can_be_reused_after_a_fit_that_raised(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    callback = TensorBoard(tmp_path, image_freq=0)

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_polynomial(x, y, degree=2, epochs=5, callbacks=[callback, Stop()])
    fit_polynomial(x, y, degree=2, epochs=3, callbacks=[callback])  # would hang if the first writer stayed open
    callback.wait()
    assert len(glob.glob(os.path.join(tmp_path, "train", "events.out.tfevents.*"))) == 2
