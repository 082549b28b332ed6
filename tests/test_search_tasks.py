"""The tasks a search trains: the built-in ones, a user's compiled model cloned and recompiled per trial with the
trial's learning rate, the models a user's HyperModel or build(hp) function builds, and `resolve`."""

import keras
import keras_tuner
import numpy as np
import pytest

from polykeras.data import load_mnist, synthetic_polynomial
from polykeras.errors import InvalidArgumentError
from polykeras.search.tasks import (
    BuiltTask,
    MnistTask,
    ModelTask,
    PolynomialTask,
    UsersTask,
    grid_points,
    resolve,
    with_learning_rate,
)

L = keras.layers


def functional_with_batchnorm():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = L.BatchNormalization()(L.Dense(8, activation="relu")(L.Concatenate()([a, b])))
    model = keras.Model([a, b], L.Dense(1)(h), name="two_inputs")
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.8), loss="mae", metrics=["mse"])
    return model


@keras.saving.register_keras_serializable(package="tests")
class Subclassed(keras.Model):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = L.Dense(units, activation="relu")
        self.out = L.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def data(inputs, n=20):
    rng = np.random.default_rng(0)
    x = [rng.random((n, 3), "float32"), rng.random((n, 2), "float32")] if inputs == 2 else rng.random((n, 3), "float32")
    return x, rng.random((n, 1), "float32")


def test_each_trial_gets_a_fresh_clone_compiled_as_the_model_was_with_the_trials_rate():
    model = functional_with_batchnorm()
    before = [np.array(w) for w in model.get_weights()]
    hypermodel = ModelTask(model, *UsersTask.split(*data(2)), lr_range=(1e-4, 1e-1))
    hp = keras_tuner.HyperParameters()
    hp.Fixed("learning_rate", 0.003)
    trial = hypermodel.build(hp)
    assert trial is not model and [layer.name for layer in trial.layers] == [layer.name for layer in model.layers]
    assert type(trial.optimizer).__name__ == "Adam" and trial.optimizer.beta_1 == pytest.approx(0.8)
    schedule = trial.optimizer.get_config()["learning_rate"]  # the schedule keeps its shape, from the trial's rate
    assert schedule["class_name"] == "ExponentialDecay" and schedule["config"]["decay_rate"] == 0.5
    assert schedule["config"]["initial_learning_rate"] == pytest.approx(0.003)
    assert trial.get_compile_config()["loss"] == "mae" and trial.get_compile_config()["metrics"] == ["mse"]
    hypermodel.fit(hp, trial, epochs=1, verbose=0)
    for old, new in zip(before, model.get_weights()):  # the user's model is never trained
        np.testing.assert_array_equal(old, new)
    assert hypermodel.metric_names() == ["loss", "mse"]


def test_validation_is_the_last_share_unless_given():
    x, y = data(2)
    hypermodel = ModelTask(functional_with_batchnorm(), *UsersTask.split(x, y, validation_split=0.25))
    np.testing.assert_array_equal(hypermodel.validation[0][1], x[1][15:])
    np.testing.assert_array_equal(hypermodel.train[1], y[:15])
    given = ModelTask(functional_with_batchnorm(), *UsersTask.split(x, y, validation_data=(x, y)))
    assert given.validation[1] is y and len(given.train[1]) == 20


def test_a_subclassed_model_is_cloned_and_built():
    model = Subclassed(units=5)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5), loss="mse")
    x, y = data(1)
    trial = ModelTask(model, *UsersTask.split(x, y)).build(keras_tuner.HyperParameters())
    assert isinstance(trial, Subclassed) and trial.units == 5 and trial.built
    assert trial.optimizer.momentum == pytest.approx(0.5)
    assert float(trial.optimizer.learning_rate) == pytest.approx(1e-5)  # the default range starts at 1e-5


def test_objectives_are_maximised_by_name_as_kerastuner_does():
    model = functional_with_batchnorm()
    assert ModelTask(model, *UsersTask.split(*data(2)), objective="val_accuracy").objective.direction == "max"
    assert ModelTask(model, *UsersTask.split(*data(2))).objective.direction == "min"


@pytest.mark.parametrize("split", [0.0, 1.0, 1, "half"])
def test_a_bad_validation_split_names_the_parameter(split):
    with pytest.raises(InvalidArgumentError, match="validation_split") as caught:
        UsersTask.split(*data(2), validation_split=split)
    assert caught.value.parameter == "validation_split"


def test_with_learning_rate_keeps_the_optimizer_and_its_settings():
    optimizer = with_learning_rate(keras.optimizers.RMSprop(0.1, rho=0.7), 0.02)
    assert type(optimizer).__name__ == "RMSprop" and optimizer.rho == pytest.approx(0.7)
    assert float(optimizer.learning_rate) == pytest.approx(0.02)


def build_dense(hp):
    """A user's build(hp): its own width, SGD with momentum, a metric."""
    model = keras.Sequential([keras.Input((3,)), L.Dense(hp.Int("units", 2, 6, step=2), activation="relu"),
                              L.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9), loss="mse", metrics=["mae"])
    return model


class BatchSizeHyperModel(keras_tuner.HyperModel):
    """A user's HyperModel that searches its batch size in its own fit."""

    def build(self, hp):
        return build_dense(hp)

    def fit(self, hp, model, *args, **kwargs):
        self.fitted_with = {**kwargs, "batch_size": hp.Choice("batch_size", [4, 8])}
        return model.fit(*args, **self.fitted_with)


def test_a_build_function_gets_the_trials_rate_and_keeps_its_own_space_and_optimizer():
    hypermodel = resolve(build_dense, *data(1), lr_range=(1e-3, 1e-1))
    assert isinstance(hypermodel, BuiltTask) and hypermodel.task_name == "hypermodel"
    hp = keras_tuner.HyperParameters()
    hp.Fixed("learning_rate", 0.004)
    hp.Fixed("units", 6)
    model = hypermodel.build(hp)
    assert model.layers[0].units == 6 and type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.004) and model.optimizer.momentum == 0.9
    assert model.get_compile_config()["metrics"] == ["mae"] and model.optimizer.built
    # A fresh space has both: the rate polykeras declares, then the user's own.
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    assert [p.name for p in space.space] == ["learning_rate", "units"]


def test_a_hypermodels_own_fit_trains_each_trial_on_the_searches_data():
    user = BatchSizeHyperModel()
    x, y = data(1)
    hypermodel = BuiltTask(user, *UsersTask.split(x, y, validation_split=0.25), optimizers=["adam", "sgd"])
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "adam")
    model = hypermodel.build(hp)
    assert type(model.optimizer).__name__ == "Adam"  # the searched optimizer replaces the user's
    history = hypermodel.fit(hp, model, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2 and user.fitted_with["batch_size"] == 4
    assert user.fitted_with["validation_data"][0] is hypermodel.validation[0] and len(hypermodel.train[0]) == 15


def test_a_build_that_returns_no_compiled_model_names_the_hypermodel():
    hypermodel = BuiltTask(lambda hp: keras.Sequential([L.Dense(1)]), *UsersTask.split(*data(1)))
    with pytest.raises(InvalidArgumentError, match="build\\(hp\\) must return a compiled keras.Model") as caught:
        hypermodel.build(keras_tuner.HyperParameters())
    assert caught.value.parameter == "hypermodel"


def test_the_built_in_tasks_build_from_default_hyperparameters():
    x, y = synthetic_polynomial([1, 2, 3])
    hp = keras_tuner.HyperParameters()
    model = PolynomialTask(*PolynomialTask.split(x, y)).build(hp)
    assert hp.values == {"learning_rate": 1e-3} and [w.name for w in model.trainable_weights] == ["coefficients"]
    *digits, _ = load_mnist("sample")
    hp = keras_tuner.HyperParameters()
    MnistTask(*MnistTask.split(digits), max_epochs=3, optimizers=["adam", "sgd"]).build(hp)
    assert hp.values == {"learning_rate": 1e-4, "optimizer": "adam"}
    space = hp.get_config()["space"]
    rate = next(s["config"] for s in space if s["config"]["name"] == "learning_rate")
    assert (rate["min_value"], rate["max_value"], rate["sampling"]) == (1e-4, 1e-1, "log")


def test_mnist_validation_is_held_out_of_training_and_stratified():
    *digits, _ = load_mnist("sample")
    (x, y), (x_val, y_val) = MnistTask.split(digits)
    assert len(x) == 3400 and len(x_val) == 600
    assert np.bincount(y_val.argmax(1)).tolist() == [60] * 10
    # Disjoint: no training image is a validation image (the sample's images are distinct).
    seen = {image.tobytes() for image in x}
    assert not any(image.tobytes() in seen for image in x_val)


@pytest.mark.any_backend
def test_grid_is_thirteen_log_spaced_rates():
    rates = grid_points(1e-4, 1e-1)
    assert len(rates) == 13 and rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-1)
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10 ** 0.25)


def test_a_task_is_made_again_from_its_options_and_its_parts():
    """What a worker does: the same space, from the parts and options the launcher wrote, without splitting."""
    for task in (resolve("poly", optimizers=["sgd", "adam"], lr_range=(0.01, 0.5)),
                 resolve(functional_with_batchnorm(), *data(2), objective="val_mse", batch_size=4)):
        kind = type(task)
        args = (task.model,) if isinstance(task, ModelTask) else ()
        again = kind(*args, task.train, task.validation, **task.options())
        assert again.space() == task.space() and again.objective.name == task.objective.name
        assert again.objective.direction == task.objective.direction and again.batch_size == task.batch_size


def test_a_validation_part_with_labels_the_training_part_lacks_is_named(caplog):
    """Sorted data cut by validation_split: the last fifth holds classes the model never trains on."""
    model = keras.Sequential([keras.Input((3,)), L.Dense(5)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, labels = np.zeros((50, 3), "float32"), np.repeat(np.arange(5), 10)  # sorted by label
    with caplog.at_level("WARNING", logger="polykeras"):
        resolve(model, x, labels)
    assert "the validation part holds labels the training part never has: 4" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="polykeras"):
        resolve(model, x, np.random.default_rng(0).permutation(labels))
    assert "never has" not in caplog.text


@pytest.mark.parametrize("arguments, message", [
    ({"task": "cnn"}, "task must be one of poly, mnist, a compiled keras.Model"),
    ({"task": "poly", "batch_size": 8}, "batch_size apply to a model's search, not to task='poly'"),
    ({"task": "poly", "y": np.zeros(3)}, "y applies to a model's search"),
    ({"task": keras.Sequential([L.Dense(1)]), "x": np.zeros((4, 1)), "y": np.zeros(4)}, "must be compiled"),
])
def test_resolve_refuses_what_it_cannot_search(arguments, message):
    with pytest.raises(InvalidArgumentError, match=message):
        resolve(**arguments)
