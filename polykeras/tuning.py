"""Learning-rate search with KerasTuner, for the polynomial and for the MNIST MLP.

A `keras_tuner.HyperModel` per task defines the search space (the learning
rate, log-uniform, and optionally the optimizer); `make_tuner` picks the
search algorithm (Hyperband by default, random, Bayesian or grid). Every trial
logs through `polykeras.callbacks.TensorBoard` into its own folder, and
`write_hparams_config` gives TensorBoard's HParams dashboard the true,
log-scale learning-rate domain. The same search runs on several processes or
machines with KerasTuner's distributed mode (see `polykeras tune --workers`).

Example:

>>> hypermodel = MnistHyperModel(data)  # doctest: +SKIP
>>> hypermodel.build(keras_tuner.HyperParameters())  # smoke-test the space  # doctest: +SKIP
"""

import json
import math
import os

import keras
import keras_tuner
import keras_tuner.src.utils
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.plugins.hparams import summary_v2 as hparams_summary

from polykeras.errors import InvalidArgumentError
from polykeras.models import (
    MNIST_BATCH_SIZE,
    PolynomialRegression,
    compile_mnist,
    make_optimizer,
    mnist_mlp,
)

def _atomic_save_json(path, obj, _original=getattr(keras_tuner.src.utils, "save_json", None)):
    """KerasTuner's save_json, written to a temporary file and renamed into place.

    KerasTuner writes its oracle, trial and tuner state in place: a search
    killed mid-write (SIGKILL) left an empty tuner0.json that stopped the
    search from resuming. A rename is atomic, so a file is old or new, never
    half written. Paths on remote file systems keep KerasTuner's own writer.
    """
    if "://" in str(path):
        return _original(path, obj)
    text = json.dumps(obj)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)
    return text


if getattr(keras_tuner.src.utils, "save_json", None) is not None:
    keras_tuner.src.utils.save_json = _atomic_save_json

TUNERS = ("hyperband", "random", "bayesian", "grid")
# Learning-rate ranges, log-uniform. The polynomial's orthonormal basis makes
# SGD stable below 1 (the error shrinks by |1 - 2 lr| per epoch).
LEARNING_RATE_RANGES = {"poly": (1e-3, 1.0), "mnist": (1e-4, 1e-1)}
OBJECTIVES = {"poly": keras_tuner.Objective("val_loss", "min"), "mnist": keras_tuner.Objective("val_accuracy", "max")}
# The grid tuner samples the same ranges on a log grid: 4 points a decade.
GRID_POINTS_PER_DECADE = 4
SPACE_FILE = "polykeras_search.json"
# Hyperband's reduction factor. With max_epochs 9 it plays two brackets (nine
# rates for one epoch, the best carried on to nine; and a few run straight to
# nine): 35 epochs in all, 30 % of a 13-point grid at 9 epochs each.
HYPERBAND_FACTOR = 9


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


class _LearningRateHyperModel(keras_tuner.HyperModel):
    """The search space shared by both tasks: the learning rate and, optionally, the optimizer."""

    task = None

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


class PolynomialHyperModel(_LearningRateHyperModel):
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

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = PolynomialRegression(self.degree, basis=self.basis)
        model.adapt(self.train[0])
        model.compile(optimizer=make_optimizer(name or "sgd", rate),
                      loss=keras.losses.MeanSquaredError(dtype="float64"))
        model.optimizer.build(model.trainable_variables)  # see MnistHyperModel.build
        return model

    def fit(self, hp, model, *args, **kwargs):
        train = tf.data.Dataset.from_tensors(self.train).repeat()
        validation = tf.data.Dataset.from_tensors(self.validation)
        kwargs.pop("x", None)
        return model.fit(train, steps_per_epoch=1, validation_data=validation, shuffle=False, **kwargs)

    def space(self):
        return {**super().space(), "degree": self.degree, "basis": self.basis, "points": len(self.train[0])}


class MnistHyperModel(_LearningRateHyperModel):
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
        return model.fit(*self.train, batch_size=MNIST_BATCH_SIZE, validation_data=self.validation, **kwargs)

    def space(self):
        return {**super().space(), "augment": self.augment, "max_epochs": self.max_epochs}


def make_tuner(name, hypermodel, max_trials=10, max_epochs=10, directory="logs/tune", project_name="search",
               overwrite=False, seed=0):
    """A KerasTuner tuner by name: `hyperband` (default), `random`, `bayesian` or `grid`.

    Raises:
        ValueError: for an unknown name, or a search space that differs from
            the one saved in an existing project (unless `overwrite`).
    """
    if name not in TUNERS:
        raise InvalidArgumentError(f"tuner must be one of {', '.join(TUNERS)}. Received: tuner={name!r}")
    check_search_space(hypermodel, os.path.join(directory, project_name), overwrite)
    common = dict(objective=OBJECTIVES[hypermodel.task], directory=directory, project_name=project_name,
                  overwrite=overwrite, seed=seed)
    if name == "hyperband":
        tuner = keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs, factor=HYPERBAND_FACTOR, **common)
    elif name == "random":
        tuner = keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif name == "bayesian":
        tuner = keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    else:
        tuner = keras_tuner.GridSearch(hypermodel, max_trials=max_trials, **common)
    save_search_space(hypermodel, os.path.join(directory, project_name))
    return tuner


def check_search_space(hypermodel, project_dir, overwrite):
    """Raises `ValueError` when an existing project was searched over another space."""
    path = os.path.join(project_dir, SPACE_FILE)
    if overwrite or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    if saved != hypermodel.space():
        changed = sorted(k for k in {*saved, *hypermodel.space()} if saved.get(k) != hypermodel.space().get(k))
        raise InvalidArgumentError(
            f"the project {project_dir} was searched over another space (changed: {', '.join(changed)}); "
            "pass --overwrite to start it again, or choose another --project-name"
        )


def save_search_space(hypermodel, project_dir):
    os.makedirs(project_dir, exist_ok=True)
    with open(os.path.join(project_dir, SPACE_FILE), "w", encoding="utf-8") as f:
        json.dump(hypermodel.space(), f, indent=2)


def write_hparams_config(log_dir, hypermodel):
    """Writes the HParams experiment config: the log-scale learning-rate domain and the metrics.

    KerasTuner writes each trial's hyperparameters but no experiment config,
    and would describe a log grid as an additive range; this gives the
    dashboard the true domain (`RealInterval`, sampled log-uniformly).
    """
    low, high = hypermodel.lr_range
    hparams = [hparams_api.HParam("learning_rate", hparams_api.RealInterval(float(low), float(high)),
                                  description="log-uniform")]
    if len(hypermodel.optimizers) > 1:
        hparams.append(hparams_api.HParam("optimizer", hparams_api.Discrete(list(hypermodel.optimizers))))
    names = ["loss"] + (["accuracy"] if hypermodel.task == "mnist" else [])
    metrics = [hparams_api.Metric(f"epoch_{n}", group=group, display_name=f"{prefix}{n}")
               for n in names for group, prefix in (("validation", "val_"), ("train", ""))]
    from polykeras.callbacks import EventWriter

    with EventWriter(log_dir) as writer:
        writer.write([hparams_summary.hparams_config_pb(hparams, metrics)], step=0)


def trial_rows(tuner, max_epochs):
    """One row per trial, best first: `(trial_id, hyperparameters, score, epochs, status)`.

    `epochs` is the trial's epoch budget (Hyperband's `tuner/epochs`, else `max_epochs`).
    """
    rows = []
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        public = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        rows.append((trial.trial_id, public, trial.score, values.get("tuner/epochs", max_epochs), trial.status))
    sign = 1 if tuner.oracle.objective.direction == "min" else -1
    return sorted(rows, key=lambda r: (r[2] is None, sign * (r[2] or 0)))


def trained_epochs(tuner, max_epochs):
    """Epochs actually trained over the search (Hyperband continues trials from earlier ones)."""
    total = 0
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        total += values.get("tuner/epochs", max_epochs) - values.get("tuner/initial_epoch", 0)
    return total


# ----------------------------------------------------------------------------
# The learning-rate range test


class LearningRateSweep(keras.callbacks.Callback):
    """Raises the learning rate exponentially every batch and records each batch's loss.

    Keras reports the running mean of the epoch's loss; batch k's own loss is
    `k * mean_k - (k - 1) * mean_(k-1)`. The sweep stops once the smoothed
    loss exceeds four times its best (the rate has made training diverge).

    Args:
        start: The first learning rate.
        stop: The last learning rate.
        steps: Batches in the sweep.
    """

    def __init__(self, start, stop, steps):
        super().__init__()
        self.rates = np.geomspace(start, stop, steps)
        self.losses = []
        self._mean = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = float(self.rates[batch])

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        loss = (batch + 1) * mean - batch * self._mean
        self._mean = mean
        self.losses.append(loss)
        smoothed = smooth(self.losses)
        if not math.isfinite(loss) or smoothed[-1] > 4 * min(smoothed):
            self.model.stop_training = True


def smooth(values, beta=0.9):
    """Exponential moving average with bias correction."""
    out, average = [], 0.0
    for k, v in enumerate(values, start=1):
        average = beta * average + (1 - beta) * v
        out.append(average / (1 - beta**k))
    return np.asarray(out)


def suggest_learning_rate(rates, losses):
    """A tenth of the rate where the smoothed loss is lowest (Smith's rule of thumb)."""
    smoothed = smooth(losses)
    return float(rates[int(np.nanargmin(smoothed))] / 10)


LR_FIND_RANGES = {"poly": (1e-4, 10.0), "mnist": (1e-6, 1.0)}


def lr_find(task, data, steps=100, seed=0):
    """Runs the learning-rate range test on a fresh model of `task`.

    Args:
        task: `"poly"` (data `(x, y)`; one full-batch SGD step per rate) or
            `"mnist"` (data as from `load_mnist`; Adam, one batch of 64 per rate).
        data: The task's data.
        steps: Learning rates tried, spread exponentially over the task's range.
        seed: Keras's seed.

    Returns:
        `(rates, losses, suggestion)`: the rates tried, the loss at each, and
        the suggested learning rate.
    """
    keras.utils.set_random_seed(seed)
    start, stop = LR_FIND_RANGES[task]
    sweep = LearningRateSweep(start, stop, steps)
    if task == "poly":
        x, y = data
        model = PolynomialRegression(5)
        model.adapt(x)
        model.compile(optimizer=keras.optimizers.SGD(start), loss=keras.losses.MeanSquaredError(dtype="float64"))
        batches = tf.data.Dataset.from_tensors((x, y)).repeat()
    else:
        (x, y), _ = data
        model = mnist_mlp()
        model.compile(optimizer=keras.optimizers.Adam(start),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
        batches = tf.data.Dataset.from_tensor_slices((x, keras.utils.to_categorical(y, 10)))
        batches = batches.shuffle(len(x), seed=seed).repeat().batch(MNIST_BATCH_SIZE)
    model.fit(batches, epochs=1, steps_per_epoch=steps, callbacks=[sweep], verbose=0, shuffle=False)
    rates = sweep.rates[: len(sweep.losses)]
    return rates, np.asarray(sweep.losses), suggest_learning_rate(rates, sweep.losses)
