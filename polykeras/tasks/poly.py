"""`PolynomialTask` (`"poly"`): the learning rate of `PolynomialRegression`, the seed's problem.

Example:

>>> import keras_tuner
>>> task = PolynomialTask.from_data(synthetic_polynomial([1, 2, 3], samples=50))
>>> model = task.build(keras_tuner.HyperParameters())  # smoke-test the space
>>> type(model.optimizer).__name__, task.objective.name, len(task.train[0]), len(task.validation[0])
('SGD', 'val_loss', 40, 10)
"""

import keras
import numpy as np

from polykeras import backend
from polykeras.data import check_xy, synthetic_polynomial
from polykeras.optimizers import make_optimizer
from polykeras.polynomial import PolynomialRegression
from polykeras.tasks.base import Task


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

    @classmethod
    def from_data(cls, data=None, *, seed=0, **options):
        """The task on `data`: `(x, y)`, or None for the seed's polynomial (200 points, noise 0.1, drawn with `seed`).

        `options` are `Task`'s and this class's arguments; the points are split by `split`.
        """
        if data is None:
            x, y = synthetic_polynomial([1, 2, 3], samples=200, noise=0.1, seed=seed)
        else:
            x, y = check_xy(*data)
        return cls(*cls.split(x, y), **options)

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
        model.compile(
            optimizer=make_optimizer(name or "sgd", rate), loss=keras.losses.MeanSquaredError(dtype="float64")
        )
        model.optimizer.build(model.trainable_variables)  # see MnistTask.build
        return model

    def fit(self, hp, model, *args, **kwargs):
        kwargs.pop("x", None)  # one full-batch step per epoch, validated on the whole held-out part
        return model.fit(
            **backend.fit_inputs(*self.train, self.batch_size, seed=0),
            shuffle=False,
            validation_data=self.validation,
            validation_batch_size=len(self.validation[0]),
            **kwargs,
        )

    def space(self):
        return {**super().space(), "degree": self.degree, "basis": self.basis, "points": len(self.train[0])}
