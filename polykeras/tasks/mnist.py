"""`MnistTask` (`"mnist"`): the learning rate of the MNIST MLP's default recipe.

Example:

>>> task = MnistTask.from_data("sample")
>>> len(task.train[0]), len(task.validation[0]), task.objective.name
(3400, 600, 'val_accuracy')
"""

import math
import os

import keras
import keras_tuner
import numpy as np

from polykeras.data import MNIST_KEYS, check_mnist_arrays, load_mnist
from polykeras.mnist import MNIST_BATCH_SIZE, compile_mnist, mnist_mlp
from polykeras.tasks.base import Task


class MnistTask(Task):
    """Learning-rate search for the MNIST MLP's default recipe (objective `val_accuracy`).

    Args:
        train, validation: `(images, one-hot labels)` each (`split` holds out
            the last 15 % of each digit's training images; the test part is not used).
        augment: Whether the model trains with augmentation.
        max_epochs, lr_range, optimizers, grid: As `Task` (default optimizer: Adam); the cosine learning-rate
            decay spans `max_epochs`.
    """

    task_name = "mnist"
    learning_rates = (1e-4, 1e-1)
    lr_find_rates = (1e-6, 1.0)
    max_epochs = 9
    objective = keras_tuner.Objective("val_accuracy", "max")

    def __init__(self, train, validation, augment=True, **kwargs):
        super().__init__(train, validation, **{**kwargs, "batch_size": MNIST_BATCH_SIZE})
        self.augment = augment

    @classmethod
    def from_data(cls, data=None, *, seed=0, **options):
        """The task on `data`, split by `split` (the test part is not used).

        Args:
            data: None or a source for `load_mnist` (`"auto"`, `"sample"`,
                `"keras"`, a path to an `.npz`), or `((x_train, y_train),
                (x_test, y_test))`.
            seed: Not used: the digits are what they are.
            **options: `Task`'s and this class's arguments.
        """
        if data is None or isinstance(data, (str, os.PathLike)):
            *digits, _ = load_mnist(os.fspath(data or "auto"))
        else:
            digits = check_mnist_arrays(dict(zip(MNIST_KEYS, (a for pair in data for a in pair), strict=True)), "x")
        return cls(*cls.split(digits), **options)

    @staticmethod
    def split(data):
        """`(train, validation)` of `((x_train, y_train), (x_test, y_test))`: 15 % of each digit held out."""
        (x, y), _ = data
        validation = np.zeros(len(y), bool)
        for digit in range(10):
            index = np.flatnonzero(y == digit)
            validation[index[int(0.85 * len(index)) :]] = True
        one_hot = keras.utils.to_categorical(y, 10)
        return (x[~validation], one_hot[~validation]), (x[validation], one_hot[validation])

    def options(self):
        return {**super().options(), "augment": self.augment}

    def metric_names(self):
        return ["loss", "accuracy"]

    def build(self, hp):
        name, rate = self._optimizer(hp)
        model = mnist_mlp(augment=self.augment)
        total_steps = self.max_epochs * math.ceil(len(self.train[0]) / MNIST_BATCH_SIZE)
        compile_mnist(model, rate, total_steps, optimizer=name or "adam")
        # Built now, so that a trial Hyperband continues from a checkpoint gets its optimizer
        # state back (the step count included, which drives the cosine schedule).
        model.optimizer.build(model.trainable_variables)
        return model

    def space(self):
        return {**super().space(), "augment": self.augment, "max_epochs": self.max_epochs}
