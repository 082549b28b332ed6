"""What a learning-rate search trains and `lr_find` sweeps: tasks, KerasTuner `HyperModel`s that carry their data.

- `base`: `Task`, the learning rate (and optionally the optimizer) searched
  on data split once into a training and a validation part; its `lr_find`.
- `poly`: `PolynomialTask`, `"poly"`: `PolynomialRegression` on the seed's problem.
- `mnist`: `MnistTask`, `"mnist"`: the MNIST MLP's default recipe.

`get` makes a built-in task by name; `polykeras.search` adds tasks on a model of the user's.

Example:

>>> task = get("poly", seed=1)
>>> task.task_name, task.objective.name, task.lr_range
('poly', 'val_loss', (0.001, 1.0))
"""

from polykeras.errors import InvalidArgumentError
from polykeras.tasks.base import GRID_POINTS_PER_DECADE, Task, grid_points
from polykeras.tasks.mnist import MnistTask
from polykeras.tasks.poly import PolynomialTask

BUILT_IN = {task.task_name: task for task in (PolynomialTask, MnistTask)}


def get(name, data=None, *, seed=0, **options):
    """The built-in task `name` on `data`, split into its training and validation parts.

    Args:
        name: `"poly"` or `"mnist"`.
        data: For `"poly"`: None (the seed's polynomial, 200 points, noise
            0.1) or `(x, y)`. For `"mnist"`: None or a source for
            `polykeras.load_mnist` (`"auto"`, `"sample"`, `"keras"`, a path to
            an `.npz`), or `((x_train, y_train), (x_test, y_test))`.
        seed: Seed of the synthetic polynomial's noise.
        **options: The task's own (`Task`'s: `max_epochs`, `lr_range`, `optimizers`, `grid`).

    Raises:
        InvalidArgumentError: for another name, or bad data.
    """
    if name not in BUILT_IN:
        raise InvalidArgumentError(f"task must be one of {', '.join(BUILT_IN)}. Received: task={name!r}", "task")
    return BUILT_IN[name].from_data(data, seed=seed, **options)


__all__ = ["BUILT_IN", "GRID_POINTS_PER_DECADE", "MnistTask", "PolynomialTask", "Task", "get", "grid_points"]
