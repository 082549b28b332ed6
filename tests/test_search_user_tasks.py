"""polykeras.search.user_tasks: a user's compiled model cloned and recompiled per trial with the trial's rate, the
models a user's HyperModel or build(hp) function builds, their objective, and the metrics their trials log."""

import keras
import keras_tuner
import numpy as np
import pytest
from helpers import Subclassed, functional_with_batchnorm, regression_data

from polykeras.errors import InvalidArgumentError
from polykeras.search.parts import split
from polykeras.search.resolve import resolve
from polykeras.search.user_tasks import HypermodelTask, ModelTask

L = keras.layers


def test_each_trial_gets_a_fresh_clone_compiled_as_the_model_was_with_the_trials_rate():
    model = functional_with_batchnorm()
    before = [np.array(w) for w in model.get_weights()]
    hypermodel = ModelTask(model, *split(*regression_data(2)), lr_range=(1e-4, 1e-1))
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
    for old, new in zip(before, model.get_weights(), strict=True):  # the user's model is never trained
        np.testing.assert_array_equal(old, new)
    assert hypermodel.metric_names() == ["loss", "mse"]


def test_a_subclassed_model_is_cloned_and_built():
    model = Subclassed(units=5)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5), loss="mse")
    trial = ModelTask(model, *split(*regression_data(1))).build(keras_tuner.HyperParameters())
    assert isinstance(trial, Subclassed) and trial.units == 5 and trial.built
    assert trial.optimizer.momentum == pytest.approx(0.5)
    assert float(trial.optimizer.learning_rate) == pytest.approx(1e-5)  # the default range starts at 1e-5


def test_objectives_take_the_direction_kerastuner_infers_or_the_one_given():
    model, parts = functional_with_batchnorm(), split(*regression_data(2))
    assert ModelTask(model, *parts, objective="val_accuracy").objective.direction == "max"
    assert ModelTask(model, *parts, objective="val_acc").objective.direction == "max"
    assert ModelTask(model, *parts).objective.direction == "min"
    given = ModelTask(model, *parts, objective=keras_tuner.Objective("val_mse", "max"))
    assert (given.objective.name, given.objective.direction) == ("val_mse", "max")
    with pytest.raises(InvalidArgumentError, match=r"keras_tuner.Objective\('val_f9', direction") as caught:
        ModelTask(model, *parts, objective="val_f9")
    assert caught.value.parameter == "objective"


def test_the_metrics_trials_log_are_named_as_fit_names_them_for_a_model_with_two_outputs():
    a = keras.Input((3,))
    h = L.Dense(4)(a)
    model = keras.Model(a, {"cls": L.Dense(2, name="cls")(h), "reg": L.Dense(1, name="reg")(h)})
    model.compile(
        optimizer="adam",
        loss={"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "reg": "mse"},
        metrics={"cls": ["accuracy"], "reg": ["mae"]},
    )
    x = np.ones((10, 3), "float32")
    y = {"cls": np.arange(10) % 2, "reg": np.ones((10, 1), "float32")}
    task = ModelTask(model, *split(x, y, validation_data=(x, y)))
    logged = sorted(task.metric_names())
    assert logged == ["cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae"]
    history = task.build(keras_tuner.HyperParameters()).fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert sorted(history.history) == sorted(logged + [f"val_{name}" for name in logged])


def test_an_objective_the_trials_do_not_log_is_refused_with_the_names_they_do():
    model, parts = functional_with_batchnorm(), split(*regression_data(2))
    ModelTask(model, *parts, objective="val_mse").check_objective()
    with pytest.raises(InvalidArgumentError) as caught:
        ModelTask(model, *parts, objective="val_accuracy").check_objective()
    assert str(caught.value) == (
        "objective must be a metric the model logs: val_loss, val_mse, loss, mse. Received: objective='val_accuracy'"
    )
    assert caught.value.parameter == "objective"


def build_dense(hp):
    """A user's build(hp): its own width, SGD with momentum, a metric."""
    model = keras.Sequential([keras.Input((3,)), L.Dense(hp.Int("units", 2, 6, step=2), activation="relu"), L.Dense(1)])
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
    hypermodel = resolve(build_dense, *regression_data(1), lr_range=(1e-3, 1e-1))
    assert isinstance(hypermodel, HypermodelTask) and hypermodel.task_name == "hypermodel"
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
    x, y = regression_data(1)
    hypermodel = HypermodelTask(user, *split(x, y, validation_split=0.25), optimizers=["adam", "sgd"])
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "adam")
    model = hypermodel.build(hp)
    assert type(model.optimizer).__name__ == "Adam"  # the searched optimizer replaces the user's
    history = hypermodel.fit(hp, model, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2 and user.fitted_with["batch_size"] == 4
    assert user.fitted_with["validation_data"][0] is hypermodel.validation[0] and len(hypermodel.train[0]) == 15


def test_a_build_that_returns_no_compiled_model_names_the_hypermodel():
    hypermodel = HypermodelTask(lambda hp: keras.Sequential([L.Dense(1)]), *split(*regression_data(1)))
    with pytest.raises(InvalidArgumentError, match=r"build\(hp\) must return a compiled keras.Model") as caught:
        hypermodel.build(keras_tuner.HyperParameters())
    assert caught.value.parameter == "hypermodel"


def test_a_users_task_is_made_again_from_its_options_and_its_parts():
    """What a worker does: the same space, from the parts and options the launcher wrote, without splitting."""
    task = resolve(functional_with_batchnorm(), *regression_data(2), objective="val_mse", batch_size=4)
    again = ModelTask(task.model, task.train, task.validation, **task.options())
    assert again.space() == task.space() and again.objective.name == task.objective.name
    assert again.objective.direction == task.objective.direction and again.batch_size == task.batch_size
