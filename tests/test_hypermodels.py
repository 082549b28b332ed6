"""The search spaces: a user's compiled model cloned and recompiled per trial, with the trial's learning rate, and
the models a user's HyperModel or build(hp) function builds."""

import keras
import keras_tuner
import numpy as np
import pytest

from polykeras.errors import InvalidArgumentError
from polykeras.hypermodels import BuiltHyperModel, ModelHyperModel, make_hypermodel, with_learning_rate

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
    hypermodel = ModelHyperModel(model, *data(2), lr_range=(1e-4, 1e-1))
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
    hypermodel = ModelHyperModel(functional_with_batchnorm(), x, y, validation_split=0.25)
    np.testing.assert_array_equal(hypermodel.validation[0][1], x[1][15:])
    np.testing.assert_array_equal(hypermodel.train[1], y[:15])
    given = ModelHyperModel(functional_with_batchnorm(), x, y, validation_data=(x, y))
    assert given.validation[1] is y and len(given.train[1]) == 20


def test_a_subclassed_model_is_cloned_and_built():
    model = Subclassed(units=5)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5), loss="mse")
    x, y = data(1)
    trial = ModelHyperModel(model, x, y).build(keras_tuner.HyperParameters())
    assert isinstance(trial, Subclassed) and trial.units == 5 and trial.built
    assert trial.optimizer.momentum == pytest.approx(0.5)
    assert float(trial.optimizer.learning_rate) == pytest.approx(1e-5)  # the default range starts at 1e-5


def test_objectives_are_maximised_by_name_as_kerastuner_does():
    model = functional_with_batchnorm()
    assert ModelHyperModel(model, *data(2), objective="val_accuracy").objective.direction == "max"
    assert ModelHyperModel(model, *data(2)).objective.direction == "min"


@pytest.mark.parametrize("split", [0.0, 1.0, 1, "half"])
def test_a_bad_validation_split_names_the_parameter(split):
    with pytest.raises(InvalidArgumentError, match="validation_split") as caught:
        ModelHyperModel(functional_with_batchnorm(), *data(2), validation_split=split)
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
    hypermodel = make_hypermodel(build_dense, data(1), max_epochs=1, lr_range=(1e-3, 1e-1))
    assert isinstance(hypermodel, BuiltHyperModel) and hypermodel.task == "hypermodel"
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
    hypermodel = BuiltHyperModel(user, x, y, validation_split=0.25, optimizers=["adam", "sgd"])
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "adam")
    model = hypermodel.build(hp)
    assert type(model.optimizer).__name__ == "Adam"  # the searched optimizer replaces the user's
    history = hypermodel.fit(hp, model, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2 and user.fitted_with["batch_size"] == 4
    assert user.fitted_with["validation_data"][0] is hypermodel.validation[0] and len(hypermodel.train[0]) == 15


def test_a_build_that_returns_no_compiled_model_names_the_hypermodel():
    hypermodel = BuiltHyperModel(lambda hp: keras.Sequential([L.Dense(1)]), *data(1))
    with pytest.raises(InvalidArgumentError, match="build\\(hp\\) must return a compiled keras.Model") as caught:
        hypermodel.build(keras_tuner.HyperParameters())
    assert caught.value.parameter == "hypermodel"
