"""polykeras.tasks: the built-in tasks, their spaces and data parts, made again from their options, and swept."""

import keras_tuner
import numpy as np
import pytest

from polykeras import tasks
from polykeras.errors import InvalidArgumentError


def test_the_built_in_tasks_build_from_default_hyperparameters():
    hp = keras_tuner.HyperParameters()
    model = tasks.get("poly").build(hp)
    assert hp.values == {"learning_rate": 1e-3} and [w.name for w in model.trainable_weights] == ["coefficients"]
    hp = keras_tuner.HyperParameters()
    tasks.get("mnist", "sample", max_epochs=3, optimizers=["adam", "sgd"]).build(hp)
    assert hp.values == {"learning_rate": 1e-4, "optimizer": "adam"}
    space = hp.get_config()["space"]
    rate = next(s["config"] for s in space if s["config"]["name"] == "learning_rate")
    assert (rate["min_value"], rate["max_value"], rate["sampling"]) == (1e-4, 1e-1, "log")


def test_mnist_validation_is_held_out_of_training_and_stratified():
    task = tasks.get("mnist", "sample")
    (x, _), (x_val, y_val) = task.train, task.validation
    assert len(x) == 3400 and len(x_val) == 600
    assert np.bincount(y_val.argmax(1)).tolist() == [60] * 10
    # Disjoint: no training image is a validation image (the sample's images are distinct).
    seen = {image.tobytes() for image in x}
    assert not any(image.tobytes() in seen for image in x_val)


def test_the_polynomial_holds_out_every_fifth_point_of_its_data():
    x = np.linspace(-1, 1, 10)
    task = tasks.get("poly", (x, 2 * x))
    np.testing.assert_array_equal(task.validation[0], x[4::5])
    assert len(task.train[0]) == 8 and task.batch_size == 8  # one full-batch step per epoch
    np.testing.assert_array_equal(tasks.get("poly", seed=3).train[0], tasks.get("poly", seed=3).train[0])
    assert not np.array_equal(tasks.get("poly", seed=3).train[1], tasks.get("poly", seed=4).train[1])


@pytest.mark.any_backend
def test_grid_is_thirteen_log_spaced_rates():
    rates = tasks.grid_points(1e-4, 1e-1)
    assert len(rates) == 13 and rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-1)
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10**0.25)


def test_a_built_in_task_is_made_again_from_its_options_and_its_parts():
    """What a worker does: the same space, from the parts and options the launcher wrote, without splitting."""
    task = tasks.get("poly", optimizers=["sgd", "adam"], lr_range=(0.01, 0.5), max_epochs=7)
    again = type(task)(task.train, task.validation, **task.options())
    assert again.space() == task.space() and again.max_epochs == 7 and again.optimizers == ("sgd", "adam")


def test_an_unknown_task_is_refused_by_name():
    with pytest.raises(InvalidArgumentError, match=r"^task must be one of poly, mnist. Received: task='cnn'$"):
        tasks.get("cnn")


def test_a_tasks_sweep_is_on_a_model_built_as_its_trials_over_its_range():
    task = tasks.get("poly")
    result = task.lr_find(steps=60)
    assert len(result.rates) <= 60 and result.rates[0] == pytest.approx(task.lr_find_rates[0])
    # The polynomial's orthonormal basis makes SGD stable below 1 and divergent above it.
    assert 0.05 < result.suggestion < 1.0, result.suggestions
    assert result.diverged and result.rates[-1] > 1.0
    again = task.lr_find(steps=60)
    np.testing.assert_array_equal(again.losses, result.losses)  # the seed fixes the weights and the batches
