"""The tasks of a search on a model of the user's: a compiled model, or a `HyperModel` or `build(hp)` function.

- `UserModelTask`: what both share: the user's data parts, their objective,
  the metrics their models log.
- `ModelTask` (`"model"`): a compiled Keras model; each trial trains a fresh clone.
- `HypermodelTask` (`"hypermodel"`): a KerasTuner `HyperModel` or a `build(hp)` function.
"""

import hashlib

import keras
import keras_tuner
from keras_tuner.engine import metrics_tracking

from polykeras import arrays, random_states
from polykeras.errors import InvalidArgumentError
from polykeras.optimizers import make_optimizer, recompile, with_learning_rate
from polykeras.saving import clone_model, model_json
from polykeras.tasks import Task


class UserModelTask(Task):
    """A search on the user's data, with their objective.

    Args:
        train, validation: `(x, y)` each, in any structure the model takes.
        objective: What the search optimises: the name of a metric the
            trials log (`"val_loss"` by default), whose direction KerasTuner
            infers, or a `keras_tuner.Objective`.
        max_epochs, lr_range, optimizers, grid, batch_size: As `Task`.

    Raises:
        InvalidArgumentError: for an objective whose direction KerasTuner cannot infer.
    """

    def __init__(self, train, validation, objective="val_loss", **kwargs):
        super().__init__(train, validation, **kwargs)
        if isinstance(objective, (list, tuple)):  # as `options()` writes it
            objective = keras_tuner.Objective(*objective)
        elif not isinstance(objective, keras_tuner.Objective):
            direction = metrics_tracking.infer_metric_direction(objective)
            if direction is None:
                raise InvalidArgumentError(
                    "KerasTuner cannot tell whether objective is to be maximised or minimised: pass "
                    f"keras_tuner.Objective({objective!r}, direction='max' or 'min'). "
                    f"Received: objective={objective!r}",
                    "objective",
                )
            objective = keras_tuner.Objective(objective, direction)
        self.objective = objective
        self._metric_names = None

    def metric_names(self):
        """The metrics each trial logs, as `fit` names them (`loss`, `accuracy`, `<output>_loss`, ...).

        Measured once on a model built as the trials' are, by the model's own
        `compute_loss` and `compute_metrics` on two training samples, with the
        random states put back after, so that the trials start as they would have.
        """
        if self._metric_names is None:
            state = random_states.capture()
            try:
                model = self.build(keras_tuner.HyperParameters())
                x, y = (arrays.take(part, slice(0, 2)) for part in self.train)
                predicted = model(x, training=False)
                model.compute_loss(x=x, y=y, y_pred=predicted)
                self._metric_names = list(model.compute_metrics(x, y, predicted, sample_weight=None))
            finally:
                random_states.restore(state)
        return self._metric_names

    def check_objective(self):
        """Raises `InvalidArgumentError` unless the objective names a metric the trials log.

        A `keras_tuner.Objective` given as such is taken as it is: a callback
        of the user's may log what it names.
        """
        logged = [f"val_{name}" for name in self.metric_names()] + self.metric_names()
        if self.objective.name not in logged:
            raise InvalidArgumentError(
                f"objective must be a metric the model logs: {', '.join(logged)}. "
                f"Received: objective={self.objective.name!r}",
                "objective",
            )

    def options(self):
        return {**super().options(), "objective": [self.objective.name, self.objective.direction]}

    def space(self):
        return {
            **super().space(),
            "samples": arrays.samples(self.train[0]),
            "batch_size": self.batch_size,
            "objective": self.objective.name,
        }


class ModelTask(UserModelTask):
    """Learning-rate search for a user's compiled Keras model: each trial trains a fresh clone.

    A trial's model is `keras.models.clone_model(model)` (the same
    architecture, new initial weights), compiled as `model` was (its
    `get_compile_config`: loss, metrics and the rest), with the optimizer's
    learning rate set to the trial's. A learning-rate schedule keeps its
    shape and gets the trial's rate as its initial rate. With `optimizers`,
    the optimizer is searched too and takes its Keras defaults otherwise.

    Args:
        model: A compiled `keras.Model` (Sequential, functional or subclassed
            with a `get_config`).
        train, validation, objective: As `UserModelTask`.
        max_epochs, lr_range, optimizers, grid, batch_size: As `Task`.
    """

    task_name = "model"

    def __init__(self, model, train, validation, **kwargs):
        super().__init__(train, validation, **kwargs)
        self.model = model

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = clone_model(self.model)
        if not model.built:  # a subclassed model: built by one call, so that checkpoints load into it
            model(arrays.take(self.train[0], slice(0, 1)))
        optimizer = make_optimizer(name, rate) if name else with_learning_rate(self.model.optimizer, rate)
        recompile(model, optimizer, like=self.model)
        return model

    def space(self):
        try:
            architecture = hashlib.sha256(model_json(self.model).encode()).hexdigest()[:12]
        except Exception:  # a subclassed model without a config: its class names it
            architecture = type(self.model).__qualname__
        return {**super().space(), "model": self.model.name, "architecture": architecture}


class HypermodelTask(UserModelTask):
    """Learning-rate search over the models a user's KerasTuner `HyperModel` or `build(hp)` function builds.

    Each trial's model is the user's `build(hp)`, compiled there as KerasTuner
    asks, then compiled again the same way with the trial's learning rate
    (and optimizer, with `optimizers`). polykeras declares the learning rate
    in `hp` before the user's `build` runs, so a `build` that declares
    `"learning_rate"` itself gets the searched value. A `HyperModel`'s own
    hyperparameters are searched too, and its `fit` trains each trial.

    Args:
        hypermodel: A `keras_tuner.HyperModel`, or a function of `hp` that
            returns a compiled `keras.Model`.
        train, validation, objective: As `UserModelTask`.
        max_epochs, lr_range, optimizers, grid, batch_size: As `Task`.
    """

    task_name = "hypermodel"

    def __init__(self, hypermodel, train, validation, **kwargs):
        super().__init__(train, validation, **kwargs)
        self.hypermodel = hypermodel

    def build(self, hp):
        name, rate = self._optimizer(hp)
        build = self.hypermodel.build if isinstance(self.hypermodel, keras_tuner.HyperModel) else self.hypermodel
        model = build(hp)
        if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
            raise InvalidArgumentError(
                f"the hypermodel's build(hp) must return a compiled keras.Model. Received: "
                f"{type(model).__name__} from hypermodel={self.hypermodel!r}",
                "hypermodel",
            )
        recompile(model, make_optimizer(name, rate) if name else with_learning_rate(model.optimizer, rate))
        return model

    def fit(self, hp, model, *args, **kwargs):
        if not isinstance(self.hypermodel, keras_tuner.HyperModel):
            return super().fit(hp, model, *args, **kwargs)
        kwargs.pop("x", None)
        return self.hypermodel.fit(
            hp, model, *self.train, batch_size=self.batch_size, validation_data=self.validation, **kwargs
        )

    def space(self):
        kind = type(self.hypermodel) if isinstance(self.hypermodel, keras_tuner.HyperModel) else self.hypermodel
        # Without its module: a script's is `__main__` in one process, not in the others.
        return {**super().space(), "hypermodel": kind.__qualname__}
