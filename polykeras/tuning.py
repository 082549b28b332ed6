"""Deprecated: the learning-rate search is `polykeras.search` (its modules in `polykeras/search/`), and the
learning-rate range test `polykeras.lr_finder`. The names this module offered still work for one release, each
with a `DeprecationWarning` that says where it went.
"""

from polykeras._moved import moved

__getattr__ = moved(__name__, {
    "search": "polykeras.search.run", "SearchResult": "polykeras.search.run",
    "lr_find": "polykeras.lr_finder", "LrFindResult": "polykeras.lr_finder", "smooth": "polykeras.lr_finder",
    "LR_FIND_RANGES": None, "sweep_hypermodel": None,
    "TUNERS": "polykeras.search.tuners", "HYPERBAND_FACTOR": "polykeras.search.tuners",
    "make_tuner": "polykeras.search.tuners", "planned_trials": "polykeras.search.tuners",
    "trial_rows": "polykeras.search.tuners", "trained_epochs": "polykeras.search.tuners",
    "write_hparams_config": "polykeras.search.tuners", "check_search_space": "polykeras.search.tuners",
    "save_search_space": "polykeras.search.tuners", "SPACE_FILE": "polykeras.search.tuners",
    "trial_progress": "polykeras.search.progress", "finished_scores": "polykeras.search.progress",
    "grid_points": "polykeras.search.tasks", "GRID_POINTS_PER_DECADE": "polykeras.search.tasks",
    "check_task": "polykeras.search.tasks", "task_data": "polykeras.search.tasks", "is_users": "polykeras.search.tasks",
    "PolynomialHyperModel": ("polykeras.search.tasks", "PolynomialTask"),
    "MnistHyperModel": ("polykeras.search.tasks", "MnistTask"),
    "ModelHyperModel": ("polykeras.search.tasks", "ModelTask"),
    "BuiltHyperModel": ("polykeras.search.tasks", "BuiltTask"),
    "LearningRateHyperModel": ("polykeras.search.tasks", "Task"),
    "default_project_name": "polykeras.search.run",
})
