"""What the user passed to `search`, turned into a task once: checked, its data loaded and split.

Example:

>>> task = resolve("poly", max_epochs=3)
>>> model = task.build(keras_tuner.HyperParameters())  # smoke-test the space
>>> type(model.optimizer).__name__, task.objective.name
('SGD', 'val_loss')
"""

import keras
import keras_tuner

from polykeras import tasks
from polykeras.checks import check_int
from polykeras.errors import InvalidArgumentError
from polykeras.search import parts
from polykeras.search.user_tasks import HypermodelTask, ModelTask

# Every task by the name a search's spec gives it.
TASKS = {**tasks.BUILT_IN, ModelTask.task_name: ModelTask, HypermodelTask.task_name: HypermodelTask}


def is_user_model(task):
    """Whether `task` is a model of the user's: a `keras.Model`, a KerasTuner `HyperModel` or a `build(hp)` function."""
    return isinstance(task, (keras.Model, keras_tuner.HyperModel)) or (callable(task) and not isinstance(task, str))


def check_task(task):
    """Raises `InvalidArgumentError` unless `task` is a built-in task's name, a compiled `keras.Model`, a KerasTuner
    `HyperModel` or a `build(hp)` function."""
    if isinstance(task, keras.Model):
        if getattr(task, "optimizer", None) is None or not getattr(task, "compiled", True):
            raise InvalidArgumentError(
                f"the model must be compiled (with its loss and optimizer). "
                f"Received: model={task.name!r}, not compiled",
                "task",
            )
        return
    if not is_user_model(task) and task not in tasks.BUILT_IN:
        raise InvalidArgumentError(
            f"task must be one of {', '.join(tasks.BUILT_IN)}, a compiled keras.Model, a KerasTuner "
            f"HyperModel or a build(hp) function. Received: task={task!r}",
            "task",
        )


def resolve(
    task,
    x=None,
    y=None,
    *,
    max_epochs=None,
    lr_range=None,
    optimizers=None,
    grid=False,
    seed=0,
    validation_data=None,
    validation_split=None,
    batch_size=None,
    objective=None,
):
    """The task for what the user passed to `search`, with its data checked and split: done once per search.

    Args:
        task: `"poly"` or `"mnist"` (then `x` is its data, see `polykeras.tasks.get`),
            a compiled `keras.Model`, a KerasTuner `HyperModel` or a
            `build(hp)` function (then `x` and `y` are the training data).
        max_epochs: Epochs per trial (the MNIST recipe's decay spans them).
        lr_range, optimizers, grid: The space (see `polykeras.tasks.Task`).
        seed: Seed of the synthetic polynomial's noise.
        validation_data, validation_split: For a model of the user's: the
            validation part (`parts.split`; by default the last 0.2).
        batch_size: For a model of the user's (default 32).
        objective: For a model of the user's (default `"val_loss"`): a
            metric its trials log, or a `keras_tuner.Objective`.

    Raises:
        InvalidArgumentError: for a bad task, missing data, options that do not apply to it, or an objective
            that its trials do not log.
    """
    check_task(task)
    space = dict(max_epochs=max_epochs, lr_range=lr_range, optimizers=optimizers, grid=grid)
    users = {
        "validation_data": validation_data,
        "validation_split": validation_split,
        "batch_size": batch_size,
        "objective": objective,
    }
    if not is_user_model(task):
        given = sorted(name for name, value in users.items() if value is not None)
        if given:
            raise InvalidArgumentError(f"{', '.join(given)} apply to a model's search, not to task={task!r}", given[0])
        if y is not None:
            raise InvalidArgumentError(
                f"y applies to a model's search; task={task!r} takes its data as x. "
                f"Received: y of type {type(y).__name__}",
                "y",
            )
        return tasks.get(task, x, seed=seed, **space)
    for name, value in (("x", x), ("y", y)):
        if value is None:
            raise InvalidArgumentError(
                f"x and y are needed to search a model's learning rate. Received: {name}=None", name
            )
    if batch_size is not None:
        check_int(batch_size, "batch_size")
    train, validation = parts.split(x, y, validation_data, 0.2 if validation_split is None else validation_split)
    kind = ModelTask if isinstance(task, keras.Model) else HypermodelTask
    found = kind(task, train, validation, batch_size=batch_size or 32, objective=objective or "val_loss", **space)
    found.check_objective()
    return found
