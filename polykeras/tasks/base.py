"""`Task`: a learning-rate search space on data split once, a KerasTuner `HyperModel` that carries its own ranges.

Example:

>>> import numpy as np
>>> grid_points(1e-3, 1e-1).round(4).tolist()
[0.001, 0.0018, 0.0032, 0.0056, 0.01, 0.0178, 0.0316, 0.0562, 0.1]
"""

import math

import keras_tuner
import numpy as np

from polykeras import backend
from polykeras.lr_finder import DEFAULT_RULE, lr_find
from polykeras.optimizers import recompile, schedule_of, with_learning_rate

# The grid tuner samples the learning rate on a log grid: 4 points a decade.
GRID_POINTS_PER_DECADE = 4


def grid_points(low, high):
    """The learning rates of the log grid from `low` to `high` (both included)."""
    count = round(GRID_POINTS_PER_DECADE * math.log10(high / low)) + 1
    return np.geomspace(low, high, count)


class Task(keras_tuner.HyperModel):
    """A learning-rate search space on data split once: the rate and, optionally, the optimizer.

    Each task searches the learning rate (log-uniform, or a log grid for the
    grid tuner) and optionally the optimizer, and describes its space as JSON
    (`space()`), so that a project resumed over another space is noticed. It
    holds its data already split into a training and a validation part, so
    that a worker process of a distributed search loads the parts instead of
    splitting again.

    Class attributes, each task's own:
        task_name: `"poly"`, `"mnist"`, `"model"` or `"hypermodel"`.
        learning_rates: `(low, high)` of the log-uniform rate, by default.
        lr_find_rates: The rates `lr_find` sweeps for it.
        max_epochs: Epochs per trial at most, by default.
        objective: What a search of it optimises (`keras_tuner.Objective`).

    Args:
        train: The training part, `(x, y)`.
        validation: The validation part, `(x, y)`.
        max_epochs: Epochs per trial at most (default: the task's).
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

    def __init__(
        self, train, validation, *, max_epochs=None, lr_range=None, optimizers=None, grid=False, batch_size=32, **kwargs
    ):
        super().__init__(**kwargs)
        self.train, self.validation = tuple(train), tuple(validation)
        self.max_epochs = max_epochs or type(self).max_epochs
        self.lr_range = tuple(lr_range or self.learning_rates)
        self.optimizers = tuple(optimizers or ())
        self.grid = grid
        self.batch_size = batch_size

    def options(self):
        """Everything beside the data that makes this task again (the search's spec keeps it as JSON)."""
        return {
            "max_epochs": self.max_epochs,
            "lr_range": list(self.lr_range),
            "optimizers": list(self.optimizers),
            "grid": self.grid,
            "batch_size": self.batch_size,
        }

    def metric_names(self):
        """The metrics each trial logs (`loss`, ...), for the HParams dashboard."""
        return ["loss"]

    def _optimizer(self, hp):
        """`(optimizer name or None for the model's own, learning rate)`, declared in `hp`."""
        step = 10 ** (1 / GRID_POINTS_PER_DECADE) if self.grid else None
        rate = hp.Float("learning_rate", *self.lr_range, sampling="log", step=step)
        if len(self.optimizers) > 1:
            return hp.Choice("optimizer", list(self.optimizers)), rate
        return (self.optimizers[0] if self.optimizers else None), rate

    def space(self):
        """A JSON-ready description of the search space, to notice when it changes."""
        return {
            "task": self.task_name,
            "learning_rate": list(self.lr_range),
            "optimizers": list(self.optimizers),
            "grid": self.grid,
        }

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
        if schedule_of(model.optimizer) is not None:
            recompile(model, with_learning_rate(model.optimizer, rate, keep_schedule=False))
        return model

    def lr_find(self, *, steps=100, seed=0, suggest=DEFAULT_RULE, check=True):
        """`lr_find` on a model built as each trial's, on the training part at the task's batch size.

        The rate is swept over the task's `lr_find_rates`: the polynomial takes
        one full-batch SGD step per rate, the MLP one batch of 128 with Adam;
        the check scores its candidates on the task's validation part.
        `seed` seeds the model's starting weights and the batches' order.

        Returns:
            An `LrFindResult`.
        """
        start, stop = self.lr_find_rates
        x, y = self.train
        backend.set_random_seed(seed)  # the model's starting weights
        return lr_find(
            self.build_for_sweep(start),
            x,
            y,
            batch_size=self.batch_size,
            start_lr=start,
            end_lr=stop,
            steps=steps,
            seed=seed,
            suggest=suggest,
            check=check,
            validation_data=self.validation,
        )
