"""Deprecated: the hypermodels are the tasks of `polykeras.search.tasks` (`PolynomialTask`, `MnistTask`,
`ModelTask`, `BuiltTask`). The names this module offered still work for one release, each with a
`DeprecationWarning` that says where it went.
"""

from polykeras._moved import moved

__getattr__ = moved(__name__, {
    "PolynomialHyperModel": ("polykeras.search.tasks", "PolynomialTask"),
    "MnistHyperModel": ("polykeras.search.tasks", "MnistTask"),
    "ModelHyperModel": ("polykeras.search.tasks", "ModelTask"),
    "BuiltHyperModel": ("polykeras.search.tasks", "BuiltTask"),
    "UsersDataHyperModel": ("polykeras.search.tasks", "UsersTask"),
    "LearningRateHyperModel": ("polykeras.search.tasks", "Task"),
    "grid_points": "polykeras.search.tasks", "GRID_POINTS_PER_DECADE": "polykeras.search.tasks",
    "check_task": "polykeras.search.tasks", "task_data": "polykeras.search.tasks", "is_users": "polykeras.search.tasks",
    "recompile": "polykeras.search.tasks", "with_learning_rate": "polykeras.search.tasks",
    "TASKS": ("polykeras.search.tasks", "BUILT_IN"),
})
