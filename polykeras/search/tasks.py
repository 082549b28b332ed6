"""What a search trains: the task, a KerasTuner `HyperModel` that carries its own ranges, objective, epochs and data.

- `PolynomialTask` (`"poly"`) and `MnistTask` (`"mnist"`): the built-in tasks.
- `ModelTask`: a user's compiled Keras model; each trial trains a fresh clone.
- `BuiltTask`: a user's KerasTuner `HyperModel` or `build(hp)` function.

Each searches the learning rate (log-uniform, or a log grid for the grid
tuner) and optionally the optimizer, and describes its space as JSON
(`space()`), so that a project resumed over another space is noticed. Each
holds its data already split into a training and a validation part, so a
worker process of a distributed search loads the parts (`polykeras.search.shared`)
instead of splitting again. `resolve` turns what the user passed to `search`
into a task, checking it once.

Example:

>>> task = resolve("poly", max_epochs=3)
>>> model = task.build(keras_tuner.HyperParameters())  # smoke-test the space
>>> type(model.optimizer).__name__, task.objective.name
('SGD', 'val_loss')
"""

import hashlib
import logging
import math
import os

import keras
import keras_tuner
import numpy as np

from polykeras import backend
from polykeras import data as datasets
from polykeras.checks import check_int, check_number, make_optimizer
from polykeras.errors import InvalidArgumentError
from polykeras.mnist import MNIST_BATCH_SIZE, compile_mnist, mnist_mlp
from polykeras.polynomial import PolynomialRegression
from polykeras.saving import clone_model, compile_config, model_json, optimizer_config

logger = logging.getLogger(__name__)
# The grid tuner samples the learning rate on a log grid: 4 points a decade.
GRID_POINTS_PER_DECADE = 4


def grid_points(low, high):
    """The learning rates of the log grid from `low` to `high` (both included)."""
    count = round(GRID_POINTS_PER_DECADE * math.log10(high / low)) + 1
    return np.geomspace(low, high, count)


class Task(keras_tuner.HyperModel):
    """A learning-rate search space on data split once: the rate and, optionally, the optimizer.

    Class attributes, each task's own:
        task_name: `"poly"`, `"mnist"`, `"model"` or `"hypermodel"`.
        learning_rates: `(low, high)` of the log-uniform rate, by default.
        lr_find_rates: The rates `lr_find` sweeps for it (`from_lr_find`).
        max_epochs: Epochs per trial at most, by default.

    Args:
        train: The training part, `(x, y)`.
        validation: The validation part, `(x, y)`.
        lr_range: `(low, high)` of the log-uniform learning rate.
        optimizers: Optimizer names searched too (empty: the model's own).
        grid: Whether the rate is a log grid (for the grid tuner).
        batch_size: `fit`'s batch size in each trial.
    """

    task_name = None
    learning_rates = (1e-5, 1e-1)
    lr_find_rates = (1e-7, 10.0)
    max_epochs = 10
    objective = keras_tuner.Objective("val_loss", "min")

    def __init__(self, train, validation, *, lr_range=None, optimizers=None, grid=False, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        self.train, self.validation = tuple(train), tuple(validation)
        self.lr_range = tuple(lr_range or self.learning_rates)
        self.optimizers = tuple(optimizers or ())
        self.grid = grid
        self.batch_size = batch_size

    def options(self):
        """Everything beside the data that makes this task again (the search's spec keeps it as JSON)."""
        return {"lr_range": list(self.lr_range), "optimizers": list(self.optimizers), "grid": self.grid,
                "batch_size": self.batch_size}

    def metric_names(self):
        """The metrics each trial logs (`loss`, ...), for the HParams dashboard."""
        return ["loss"]

    def _optimizer(self, hp):
        step = 10 ** (1 / GRID_POINTS_PER_DECADE) if self.grid else None
        rate = hp.Float("learning_rate", *self.lr_range, sampling="log", step=step)
        if len(self.optimizers) > 1:
            return hp.Choice("optimizer", list(self.optimizers)), rate
        return (self.optimizers[0] if self.optimizers else None), rate

    def space(self):
        """A JSON-ready description of the search space, to notice when it changes."""
        return {"task": self.task_name, "learning_rate": list(self.lr_range), "optimizers": list(self.optimizers),
                "grid": self.grid}

    def fit(self, hp, model, *args, **kwargs):
        kwargs.pop("x", None)
        return model.fit(*self.train, batch_size=self.batch_size, validation_data=self.validation, **kwargs)

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


class PolynomialTask(Task):
    """Learning-rate search for `PolynomialRegression` (objective `val_loss`): one full-batch step per epoch.

    The orthonormal basis makes SGD stable below 1 (the error shrinks by
    |1 - 2 lr| per epoch), hence the range 1e-3 to 1.

    Args:
        train, validation: The points, `(x, y)` each (`split` holds out every fifth).
        degree: The polynomial's degree.
        basis: The basis (`legendre` by default).
        lr_range, optimizers, grid: As `Task` (default optimizer: SGD).
    """

    task_name = "poly"
    learning_rates = (1e-3, 1.0)
    lr_find_rates = (1e-4, 10.0)
    max_epochs = 20

    def __init__(self, train, validation, degree=5, basis="legendre", **kwargs):
        super().__init__(train, validation, **{**kwargs, "batch_size": len(train[0])})
        self.degree, self.basis = degree, basis

    @staticmethod
    def split(x, y):
        """`(train, validation)`: every fifth point held out."""
        held_out = np.arange(len(x)) % 5 == 4
        x, y = np.asarray(x), np.asarray(y)
        return (x[~held_out], y[~held_out]), (x[held_out], y[held_out])

    def options(self):
        return {**super().options(), "degree": self.degree, "basis": self.basis}

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = PolynomialRegression(self.degree, basis=self.basis)
        model.adapt(self.train[0])
        model.compile(optimizer=make_optimizer(name or "sgd", rate),
                      loss=keras.losses.MeanSquaredError(dtype="float64"))
        model.optimizer.build(model.trainable_variables)  # see MnistTask.build
        return model

    def fit(self, hp, model, *args, **kwargs):
        kwargs.pop("x", None)  # one full-batch step per epoch, validated on the whole held-out part
        return model.fit(**backend.fit_inputs(*self.train, self.batch_size, seed=0), shuffle=False,
                         validation_data=self.validation, validation_batch_size=len(self.validation[0]), **kwargs)

    def space(self):
        return {**super().space(), "degree": self.degree, "basis": self.basis, "points": len(self.train[0])}


class MnistTask(Task):
    """Learning-rate search for the MNIST MLP's default recipe (objective `val_accuracy`).

    Args:
        train, validation: `(images, one-hot labels)` each (`split` holds out
            the last 15 % of each digit's training images; the test part is not used).
        max_epochs: The epochs the cosine learning-rate decay spans.
        augment: Whether the model trains with augmentation.
        lr_range, optimizers, grid: As `Task` (default optimizer: Adam).
    """

    task_name = "mnist"
    learning_rates = (1e-4, 1e-1)
    lr_find_rates = (1e-6, 1.0)
    max_epochs = 9
    objective = keras_tuner.Objective("val_accuracy", "max")

    def __init__(self, train, validation, max_epochs=9, augment=True, **kwargs):
        super().__init__(train, validation, **{**kwargs, "batch_size": MNIST_BATCH_SIZE})
        self.epochs, self.augment = max_epochs, augment

    @staticmethod
    def split(data):
        """`(train, validation)` of `((x_train, y_train), (x_test, y_test))`: 15 % of each digit held out."""
        (x, y), _ = data
        validation = np.zeros(len(y), bool)
        for digit in range(10):
            index = np.flatnonzero(y == digit)
            validation[index[int(0.85 * len(index)):]] = True
        one_hot = keras.utils.to_categorical(y, 10)
        return (x[~validation], one_hot[~validation]), (x[validation], one_hot[validation])

    def options(self):
        return {**super().options(), "max_epochs": self.epochs, "augment": self.augment}

    def metric_names(self):
        return ["loss", "accuracy"]

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = mnist_mlp(augment=self.augment)
        total_steps = self.epochs * math.ceil(len(self.train[0]) / MNIST_BATCH_SIZE)
        compile_mnist(model, rate, total_steps, optimizer=name or "adam")
        # Built now, so that a trial Hyperband continues from a checkpoint gets its optimizer
        # state back (the step count included, which drives the cosine schedule).
        model.optimizer.build(model.trainable_variables)
        return model

    def space(self):
        return {**super().space(), "augment": self.augment, "max_epochs": self.epochs}


class UsersTask(Task):
    """A search on the user's data, with their objective.

    Args:
        train, validation: `(x, y)` each, in any structure the model takes
            (`split`: the last `validation_split` of `x` and `y`, as Keras's
            `validation_split`, unless `validation_data` is given).
        objective: What the search optimises, as KerasTuner's `objective`
            (`"val_loss"` by default; `"val_accuracy"` is maximised).
        lr_range, optimizers, grid, batch_size: As `Task`.
    """

    def __init__(self, train, validation, objective="val_loss", **kwargs):
        super().__init__(train, validation, **kwargs)
        if isinstance(objective, str):
            objective = keras_tuner.Objective(objective, "max" if _maximised(objective) else "min")
        elif isinstance(objective, (list, tuple)):  # as `options()` writes it
            objective = keras_tuner.Objective(*objective)
        self.objective = objective

    @staticmethod
    def split(x, y, validation_data=None, validation_split=0.2):
        """`(train, validation)`: `validation_data`, or the last `validation_split` of `x` and `y`."""
        if validation_data is not None:
            return (x, y), tuple(validation_data)
        check_number(validation_split, "validation_split", above=0, below=1)
        count = len(keras.tree.flatten(x)[0])
        cut = int(round(count * (1 - validation_split)))
        if not 0 < cut < count:
            raise InvalidArgumentError(f"validation_split leaves no training or no validation sample of {count}. "
                                       f"Received: validation_split={validation_split!r}", "validation_split")
        part = lambda s, index: keras.tree.map_structure(lambda a: np.asarray(a)[index], s)  # noqa: E731
        return ((part(x, slice(None, cut)), part(y, slice(None, cut))),
                (part(x, slice(cut, None)), part(y, slice(cut, None))))

    def options(self):
        return {**super().options(), "objective": [self.objective.name, self.objective.direction]}

    def space(self):
        return {**super().space(), "samples": len(keras.tree.flatten(self.train[0])[0]),
                "batch_size": self.batch_size, "objective": self.objective.name}


class ModelTask(UsersTask):
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
        train, validation, objective: As `UsersTask`.
        lr_range, optimizers, grid, batch_size: As `Task`.
    """

    task_name = "model"

    def __init__(self, model, train, validation, **kwargs):
        super().__init__(train, validation, **kwargs)
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


class BuiltTask(UsersTask):
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
        train, validation, objective: As `UsersTask`.
        lr_range, optimizers, grid, batch_size: As `Task`.
    """

    task_name = "hypermodel"

    def __init__(self, hypermodel, train, validation, **kwargs):
        super().__init__(train, validation, **kwargs)
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
        kind = type(self.hypermodel) if isinstance(self.hypermodel, keras_tuner.HyperModel) else self.hypermodel
        # Without its module: a script's is `__main__` in one process, not in the others.
        return {**super().space(), "hypermodel": kind.__qualname__}


TASKS = {task.task_name: task for task in (PolynomialTask, MnistTask, ModelTask, BuiltTask)}
BUILT_IN = ("poly", "mnist")


def is_users(task):
    """Whether `task` is the user's: a `keras.Model`, a KerasTuner `HyperModel` or a `build(hp)` function."""
    return isinstance(task, (keras.Model, keras_tuner.HyperModel)) or (callable(task) and not isinstance(task, str))


def kind(task):
    """The task class for what the user passed (a built-in task's name, a model, a hypermodel or a function)."""
    if isinstance(task, keras.Model):
        return ModelTask
    if is_users(task):
        return BuiltTask
    return TASKS[task]


def check_task(task):
    """Raises `InvalidArgumentError` unless `task` is `"poly"`, `"mnist"`, a compiled `keras.Model`, a KerasTuner
    `HyperModel` or a `build(hp)` function."""
    if isinstance(task, keras.Model):
        if getattr(task, "optimizer", None) is None or not getattr(task, "compiled", True):
            raise InvalidArgumentError(f"the model must be compiled (with its loss and optimizer). "
                                       f"Received: model={task.name!r}, not compiled", "task")
        return
    if not is_users(task) and task not in BUILT_IN:
        raise InvalidArgumentError(f"task must be one of {', '.join(BUILT_IN)}, a compiled keras.Model, a KerasTuner "
                                   f"HyperModel or a build(hp) function. Received: task={task!r}", "task")


def task_data(task, data=None, seed=0):
    """A built-in task's data: `(x, y)` for `"poly"`, `((x_train, y_train), (x_test, y_test))` for `"mnist"`.

    Args:
        task: `"poly"` or `"mnist"`.
        data: For `"poly"`: None (the seed's polynomial, 200 points, noise
            0.1) or `(x, y)`. For `"mnist"`: None or a source for
            `load_mnist` (`"auto"`, `"sample"`, `"keras"`, a path to an
            `.npz`), or `((x_train, y_train), (x_test, y_test))`.
        seed: Seed of the synthetic polynomial's noise.
    """
    if task == "poly":
        if data is None:
            return datasets.synthetic_polynomial([1, 2, 3], samples=200, noise=0.1, seed=seed)
        return datasets.check_xy(*data)
    if data is None or isinstance(data, (str, os.PathLike)):
        *digits, _ = datasets.load_mnist(os.fspath(data or "auto"))
        return digits
    return datasets.check_mnist_arrays(dict(zip(datasets.MNIST_KEYS, (a for pair in data for a in pair))), "x")


def resolve(task, x=None, y=None, *, max_epochs=None, lr_range=None, optimizers=None, grid=False, seed=0,
            validation_data=None, validation_split=None, batch_size=None, objective=None):
    """The task for what the user passed to `search`, with its data checked and split: done once per search.

    Args:
        task: `"poly"` or `"mnist"` (then `x` is its data, see `task_data`),
            a compiled `keras.Model`, a KerasTuner `HyperModel` or a
            `build(hp)` function (then `x` and `y` are the training data).
        max_epochs: Epochs per trial (the MNIST recipe's decay spans them).
        lr_range, optimizers, grid: The space (see `Task`).
        seed: Seed of the synthetic polynomial's noise.
        validation_data, validation_split, batch_size, objective: For a
            model of the user's (see `UsersTask`).

    Raises:
        InvalidArgumentError: for a bad task, missing data, or options that do not apply to it.
    """
    check_task(task)
    space = dict(lr_range=lr_range, optimizers=optimizers, grid=grid)
    users = {"validation_data": validation_data, "validation_split": validation_split, "batch_size": batch_size,
             "objective": objective}
    if not is_users(task):
        given = sorted(name for name, value in users.items() if value is not None)
        if given:
            raise InvalidArgumentError(f"{', '.join(given)} apply to a model's search, not to task={task!r}", given[0])
        if y is not None:
            raise InvalidArgumentError(f"y applies to a model's search; task={task!r} takes its data as x. "
                                       f"Received: y of type {type(y).__name__}", "y")
        data = task_data(task, x, seed)
        if task == "poly":
            return PolynomialTask(*PolynomialTask.split(*data), **space)
        return MnistTask(*MnistTask.split(data), max_epochs=max_epochs or MnistTask.max_epochs, **space)
    for name, value in (("x", x), ("y", y)):
        if value is None:
            raise InvalidArgumentError(f"x and y are needed to search a model's learning rate. Received: {name}=None",
                                       name)
    if batch_size is not None:
        check_int(batch_size, "batch_size")
    train, validation = UsersTask.split(x, y, validation_data,
                                        0.2 if validation_split is None else validation_split)
    warn_of_unseen_labels(train[1], validation[1])
    options = dict(space, batch_size=batch_size or 32, objective=objective or "val_loss")
    return kind(task)(task, train, validation, **options)


def warn_of_unseen_labels(train, validation):
    """Logs a warning naming the class labels that the validation part holds and the training part lacks.

    Sorted data cut by `validation_split` validates on classes it never
    trained on, and every trial then scores about nothing. Labels are
    integer class ids, or one-hot rows.
    """
    def labels(y):
        y = np.asarray(y) if not isinstance(y, (list, dict)) else None
        if y is None or y.size == 0:
            return None
        if y.ndim == 2 and y.shape[1] > 1 and np.all((y == 0) | (y == 1)):
            return set(np.argmax(y, axis=1).tolist())
        if np.issubdtype(y.dtype, np.integer) and y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1
                                                                   and np.issubdtype(y.dtype, np.integer)):
            return set(y.reshape(-1).tolist())
        return None

    seen, checked = labels(train), labels(validation)
    unseen = sorted(checked - seen) if seen is not None and checked is not None else []
    if unseen:
        logger.warning("the validation part holds labels the training part never has: %s (sorted data? shuffle "
                       "x and y first, or pass validation_data)", ", ".join(map(str, unseen)))


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
