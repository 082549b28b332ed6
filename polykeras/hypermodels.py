"""KerasTuner hypermodels that search a learning rate: the polynomial's, the MNIST MLP's, any compiled model's,
and any model a KerasTuner `HyperModel` or `build(hp)` function of the user's builds.

Each is a `keras_tuner.HyperModel` whose space is the learning rate
(log-uniform, or a log grid for the grid tuner) and optionally the optimizer;
`space()` describes it as JSON, so that a project resumed over another space
is noticed.

Example:

>>> hypermodel = make_hypermodel("poly", task_data("poly", None, 0), max_epochs=3)
>>> model = hypermodel.build(keras_tuner.HyperParameters())  # smoke-test the space
>>> type(model.optimizer).__name__
'SGD'
"""

import hashlib
import math
import os

import keras
import keras_tuner
import numpy as np

from polykeras import backend
from polykeras import data as datasets
from polykeras.checks import check_number, make_optimizer
from polykeras.errors import InvalidArgumentError
from polykeras.mnist import MNIST_BATCH_SIZE, compile_mnist, mnist_mlp
from polykeras.polynomial import PolynomialRegression
from polykeras.saving import clone_model, compile_config, model_json, optimizer_config

TASKS = ("poly", "mnist")
# Epochs per trial at most, unless `max_epochs` says otherwise.
MAX_EPOCHS = {"poly": 20, "mnist": 9, "model": 10, "hypermodel": 10}
# Learning-rate ranges, log-uniform. The polynomial's orthonormal basis makes
# SGD stable below 1 (the error shrinks by |1 - 2 lr| per epoch).
# A user's model: four decades around Adam's and SGD's usual rates (or one either side of lr_find's suggestion).
LEARNING_RATE_RANGES = {"poly": (1e-3, 1.0), "mnist": (1e-4, 1e-1), "model": (1e-5, 1e-1), "hypermodel": (1e-5, 1e-1)}
OBJECTIVES = {"poly": keras_tuner.Objective("val_loss", "min"), "mnist": keras_tuner.Objective("val_accuracy", "max")}
# The grid tuner samples the same ranges on a log grid: 4 points a decade.
GRID_POINTS_PER_DECADE = 4


def learning_rate(hp, task, low=None, high=None, grid=False):
    """Declares the log-uniform learning rate in `hp` (a log grid for the grid tuner)."""
    default_low, default_high = LEARNING_RATE_RANGES[task]
    low, high = low or default_low, high or default_high
    step = 10 ** (1 / GRID_POINTS_PER_DECADE) if grid else None
    return hp.Float("learning_rate", low, high, sampling="log", step=step)


def grid_points(low, high):
    """The learning rates of the log grid from `low` to `high` (both included)."""
    count = round(GRID_POINTS_PER_DECADE * math.log10(high / low)) + 1
    return np.geomspace(low, high, count)


class LearningRateHyperModel(keras_tuner.HyperModel):
    """The search space every polykeras hypermodel shares: the learning rate and, optionally, the optimizer.

    Attributes:
        task: `"poly"`, `"mnist"`, `"model"` (a user's model) or
            `"hypermodel"` (a user's `HyperModel` or `build(hp)` function).
        objective: The search's objective (KerasTuner's `Objective`).
        lr_range: `(low, high)` of the log-uniform learning rate.
        optimizers: Optimizer names searched too (empty: the model's own).
        train: The training data, `(x, y)`.
        batch_size: `fit`'s batch size in each trial.
    """

    task = None

    @property
    def objective(self):
        return OBJECTIVES[self.task]

    def metric_names(self):
        """The metrics each trial logs (`loss`, ...), for the HParams dashboard."""
        return ["loss"] + (["accuracy"] if self.task == "mnist" else [])

    def __init__(self, lr_range=None, optimizers=None, grid=False, **kwargs):
        super().__init__(**kwargs)
        self.lr_range = tuple(lr_range or LEARNING_RATE_RANGES[self.task])
        self.optimizers = tuple(optimizers or ())
        self.grid = grid

    def _optimizer(self, hp):
        rate = learning_rate(hp, self.task, *self.lr_range, grid=self.grid)
        if len(self.optimizers) > 1:
            return hp.Choice("optimizer", list(self.optimizers)), rate
        return (self.optimizers[0] if self.optimizers else None), rate

    def space(self):
        """A JSON-ready description of the search space, to notice when it changes."""
        return {"task": self.task, "learning_rate": list(self.lr_range), "optimizers": list(self.optimizers),
                "grid": self.grid}

    def build_for_sweep(self, rate):
        """A model built as each trial's is, with the constant learning rate `rate`: what `lr_find` sweeps.

        A learning-rate schedule the build compiles in is replaced by the constant rate.
        """
        hp = keras_tuner.HyperParameters()
        hp.Fixed("learning_rate", rate)
        model = self.build(hp)
        if not isinstance(model.optimizer.learning_rate, keras.Variable):  # a schedule
            recompile(model, with_learning_rate(model.optimizer, rate, keep_schedule=False))
        return model


class PolynomialHyperModel(LearningRateHyperModel):
    """Learning-rate search for `PolynomialRegression` (objective `val_loss`).

    Args:
        x: Inputs.
        y: Targets. Every fifth point is held out for validation.
        degree: The polynomial's degree.
        basis: The basis (`legendre` by default).
        lr_range: `(low, high)` of the log-uniform learning rate.
        optimizers: Optimizer names to choose from (default: SGD only).
        grid: Whether the learning rate is a log grid (for the grid tuner).
    """

    task = "poly"

    def __init__(self, x, y, degree=5, basis="legendre", **kwargs):
        super().__init__(**kwargs)
        held_out = np.arange(len(x)) % 5 == 4
        self.train = (np.asarray(x)[~held_out], np.asarray(y)[~held_out])
        self.validation = (np.asarray(x)[held_out], np.asarray(y)[held_out])
        self.degree, self.basis = degree, basis
        self.batch_size = len(self.train[0])  # one full-batch step per epoch

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = PolynomialRegression(self.degree, basis=self.basis)
        model.adapt(self.train[0])
        model.compile(optimizer=make_optimizer(name or "sgd", rate),
                      loss=keras.losses.MeanSquaredError(dtype="float64"))
        model.optimizer.build(model.trainable_variables)  # see MnistHyperModel.build
        return model

    def fit(self, hp, model, *args, **kwargs):
        kwargs.pop("x", None)  # one full-batch step per epoch, validated on the whole held-out part
        return model.fit(**backend.fit_inputs(*self.train, self.batch_size, seed=0), shuffle=False,
                         validation_data=self.validation, validation_batch_size=len(self.validation[0]), **kwargs)

    def space(self):
        return {**super().space(), "degree": self.degree, "basis": self.basis, "points": len(self.train[0])}


class MnistHyperModel(LearningRateHyperModel):
    """Learning-rate search for the MNIST MLP's default recipe (objective `val_accuracy`).

    Args:
        data: `((x_train, y_train), (x_test, y_test))`; the last 15 % of each
            digit's training images are held out for validation, the test
            part is not used.
        max_epochs: The epochs the cosine learning-rate decay spans.
        augment: Whether the model trains with augmentation.
        lr_range: `(low, high)` of the log-uniform learning rate.
        optimizers: Optimizer names to choose from (default: Adam only).
        grid: Whether the learning rate is a log grid (for the grid tuner).
    """

    task = "mnist"

    def __init__(self, data, max_epochs, augment=True, **kwargs):
        super().__init__(**kwargs)
        (x, y), _ = data
        validation = np.zeros(len(y), bool)
        for digit in range(10):
            index = np.flatnonzero(y == digit)
            validation[index[int(0.85 * len(index)):]] = True
        one_hot = keras.utils.to_categorical(y, 10)
        self.train = (x[~validation], one_hot[~validation])
        self.validation = (x[validation], one_hot[validation])
        self.max_epochs = max_epochs
        self.augment = augment
        self.batch_size = MNIST_BATCH_SIZE

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = mnist_mlp(augment=self.augment)
        total_steps = self.max_epochs * math.ceil(len(self.train[0]) / MNIST_BATCH_SIZE)
        compile_mnist(model, rate, total_steps, optimizer=name or "adam")
        # Built now, so that a trial Hyperband continues from a checkpoint gets its optimizer
        # state back (the step count included, which drives the cosine schedule).
        model.optimizer.build(model.trainable_variables)
        return model

    def fit(self, hp, model, *args, **kwargs):
        kwargs.pop("x", None)
        return model.fit(*self.train, batch_size=self.batch_size, validation_data=self.validation, **kwargs)

    def space(self):
        return {**super().space(), "augment": self.augment, "max_epochs": self.max_epochs}


def is_users(task):
    """Whether `task` is the user's: a `keras.Model`, a KerasTuner `HyperModel` or a `build(hp)` function."""
    return isinstance(task, (keras.Model, keras_tuner.HyperModel)) or (callable(task) and not isinstance(task, str))


def task_name(task):
    """`"poly"`, `"mnist"`, `"model"` for a user's model, `"hypermodel"` for a user's `HyperModel` or `build(hp)`."""
    if isinstance(task, keras.Model):
        return "model"
    return "hypermodel" if is_users(task) else task


def check_task(task):
    """Raises `InvalidArgumentError` unless `task` is `"poly"`, `"mnist"`, a compiled `keras.Model`, a KerasTuner
    `HyperModel` or a `build(hp)` function."""
    if isinstance(task, keras.Model):
        if getattr(task, "optimizer", None) is None or not getattr(task, "compiled", True):
            raise InvalidArgumentError(f"the model must be compiled (with its loss and optimizer). "
                                       f"Received: model={task.name!r}, not compiled")
        return
    if not is_users(task) and task not in TASKS:
        raise InvalidArgumentError(f"task must be one of {', '.join(TASKS)}, a compiled keras.Model, a KerasTuner "
                                   f"HyperModel or a build(hp) function. Received: task={task!r}")


def task_data(task, data=None, seed=0):
    """The data a tuning task trains on.

    Args:
        task: `"poly"` or `"mnist"`.
        data: For `"poly"`: None (the seed's polynomial, 200 points, noise
            0.1) or `(x, y)`. For `"mnist"`: None or a source for
            `load_mnist` (`"auto"`, `"sample"`, `"keras"`, a path to an
            `.npz`), or `((x_train, y_train), (x_test, y_test))`.
        seed: Seed of the synthetic polynomial's noise.

    Returns:
        `(x, y)` for `"poly"`, `((x_train, y_train), (x_test, y_test))` for `"mnist"`.
    """
    check_task(task)
    if is_users(task):
        if data is None or len(data) != 2:
            raise InvalidArgumentError("x and y are needed to search a model's learning rate. Received: x=None", "x")
        if data[0] is None or data[1] is None:
            raise InvalidArgumentError("x and y are needed to search a model's learning rate. Received: "
                                       f"{'x' if data[0] is None else 'y'}=None", "x" if data[0] is None else "y")
        return tuple(data)
    if task == "poly":
        if data is None:
            return datasets.synthetic_polynomial([1, 2, 3], samples=200, noise=0.1, seed=seed)
        return datasets.check_xy(*data)
    if data is None or isinstance(data, (str, os.PathLike)):
        *digits, _ = datasets.load_mnist(os.fspath(data or "auto"))
        return digits
    return datasets.check_mnist_arrays(dict(zip(datasets.MNIST_KEYS, (a for pair in data for a in pair))), "data")


def make_hypermodel(task, data, max_epochs, lr_range=None, optimizers=None, grid=False, **model_options):
    """The task's `HyperModel` over `data` (as `task_data` returns it); `ModelHyperModel` or `BuiltHyperModel` for
    the user's.

    `model_options` are theirs (`validation_data`, ...), for the user's only.
    """
    space = dict(lr_range=lr_range, optimizers=optimizers, grid=grid)
    if isinstance(task, keras.Model):
        return ModelHyperModel(task, *data, **space, **model_options)
    if is_users(task):
        return BuiltHyperModel(task, *data, **space, **model_options)
    if task == "poly":
        return PolynomialHyperModel(*data, **space)
    return MnistHyperModel(data, max_epochs, **space)


class UsersDataHyperModel(LearningRateHyperModel):
    """A search on the user's data: its validation part, batch size and objective.

    Args:
        x: Training inputs, in any structure the model takes.
        y: Training targets.
        validation_data: `(x_val, y_val)`; by default the last
            `validation_split` of `x` and `y` (as Keras's `validation_split`).
        validation_split: The share held out when `validation_data` is None.
        batch_size: `fit`'s batch size.
        objective: What the search optimises, as KerasTuner's `objective`
            (`"val_loss"` by default; `"val_accuracy"` is maximised).
        lr_range, optimizers, grid: As `LearningRateHyperModel`.
    """

    def __init__(self, x, y, validation_data=None, validation_split=0.2, batch_size=32, objective="val_loss",
                 **kwargs):
        super().__init__(**kwargs)
        if validation_data is None:
            check_number(validation_split, "validation_split", above=0, below=1)
            count = len(keras.tree.flatten(x)[0])
            cut = int(round(count * (1 - validation_split)))
            if not 0 < cut < count:
                raise InvalidArgumentError(f"validation_split leaves no training or no validation sample of "
                                           f"{count}. Received: validation_split={validation_split!r}",
                                           "validation_split")
            split = lambda s, part: keras.tree.map_structure(lambda a: np.asarray(a)[part], s)  # noqa: E731
            x, y, validation_data = split(x, slice(None, cut)), split(y, slice(None, cut)), \
                (split(x, slice(cut, None)), split(y, slice(cut, None)))
        self.train, self.validation = (x, y), tuple(validation_data)
        self.batch_size = batch_size
        self._objective = keras_tuner.Objective(objective, "max" if _maximised(objective) else "min") \
            if isinstance(objective, str) else objective

    @property
    def objective(self):
        return self._objective

    def fit(self, hp, model, *args, **kwargs):
        kwargs.pop("x", None)
        return model.fit(*self.train, batch_size=self.batch_size, validation_data=self.validation, **kwargs)

    def space(self):
        return {**super().space(), "samples": len(keras.tree.flatten(self.train[0])[0]),
                "batch_size": self.batch_size, "objective": self.objective.name}


class ModelHyperModel(UsersDataHyperModel):
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
        x, y, validation_data, validation_split, batch_size, objective: The
            data and objective (see `UsersDataHyperModel`).
        lr_range, optimizers, grid: As `LearningRateHyperModel`.
    """

    task = "model"

    def __init__(self, model, x, y, **kwargs):
        super().__init__(x, y, **kwargs)
        self.model = model

    def metric_names(self):
        metrics = compile_config(self.model).get("metrics") or []
        names = [m for m in keras.tree.flatten(metrics) if isinstance(m, str)]
        return ["loss"] + [m for m in names if m != "loss"]

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = clone_model(self.model)
        if not model.built:  # a subclassed model: built by one call, so that checkpoints load into it
            model(keras.tree.map_structure(lambda a: np.asarray(a)[:1], self.train[0]))
        recompile(model, make_optimizer(name, rate) if name else with_learning_rate(self.model.optimizer, rate),
                  like=self.model)
        return model

    def space(self):
        try:
            architecture = hashlib.sha256(model_json(self.model).encode()).hexdigest()[:12]
        except Exception:  # a subclassed model without a config: its class names it
            architecture = type(self.model).__qualname__
        return {**super().space(), "model": self.model.name, "architecture": architecture}


class BuiltHyperModel(UsersDataHyperModel):
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
        x, y, validation_data, validation_split, batch_size, objective: The
            data and objective (see `UsersDataHyperModel`).
        lr_range, optimizers, grid: As `LearningRateHyperModel`.
    """

    task = "hypermodel"

    def __init__(self, hypermodel, x, y, **kwargs):
        super().__init__(x, y, **kwargs)
        self.hypermodel = hypermodel

    def metric_names(self):
        name = self.objective.name.removeprefix("val_")
        return ["loss"] + ([name] if name != "loss" else [])

    def build(self, hp):
        name, rate = self._optimizer(hp)
        build = self.hypermodel.build if isinstance(self.hypermodel, keras_tuner.HyperModel) else self.hypermodel
        model = build(hp)
        if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
            raise InvalidArgumentError(f"the hypermodel's build(hp) must return a compiled keras.Model. Received: "
                                       f"{type(model).__name__} from hypermodel={self.hypermodel!r}", "hypermodel")
        recompile(model, make_optimizer(name, rate) if name else with_learning_rate(model.optimizer, rate))
        return model

    def fit(self, hp, model, *args, **kwargs):
        if not isinstance(self.hypermodel, keras_tuner.HyperModel):
            return super().fit(hp, model, *args, **kwargs)
        kwargs.pop("x", None)
        return self.hypermodel.fit(hp, model, *self.train, batch_size=self.batch_size,
                                   validation_data=self.validation, **kwargs)

    def space(self):
        return {**super().space(), "hypermodel": _qualified_name(self.hypermodel)}


def _qualified_name(value):
    """The class or function's name, without its module: a script's is `__main__` in one process, not in others."""
    return (type(value) if isinstance(value, keras_tuner.HyperModel) else value).__qualname__


def recompile(model, optimizer, like=None):
    """Compiles `model` as `like` (default: itself) is compiled, with `optimizer` instead, and builds the optimizer.

    Built now, so that a trial Hyperband continues from a checkpoint gets its optimizer state back.
    """
    config = keras.saving.deserialize_keras_object(compile_config(like or model))
    config["optimizer"] = optimizer
    model.compile(**config)
    model.optimizer.build(model.trainable_variables)


def _maximised(metric):
    """Whether KerasTuner maximises `metric` by name (accuracies, AUC and the like), as its `infer_metric_direction`."""
    name = metric[4:] if metric.startswith("val_") else metric
    return any(word in name for word in ("acc", "auc", "precision", "recall", "f1", "iou", "r2"))


def with_learning_rate(optimizer, rate, keep_schedule=True):
    """A new optimizer like `optimizer` (same class and settings) with learning rate `rate`.

    A schedule keeps its shape, its `initial_learning_rate` becoming `rate`,
    unless `keep_schedule` is False.
    """
    config = optimizer_config(optimizer)
    current = config.get("learning_rate")
    if keep_schedule and isinstance(current, dict) and "initial_learning_rate" in current.get("config", {}):
        config["learning_rate"] = {**current, "config": {**current["config"], "initial_learning_rate": rate}}
    else:
        config["learning_rate"] = rate
    return type(optimizer).from_config(config)
