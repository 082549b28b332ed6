"""A search described once: `SearchSpec`, the JSON file every process of a distributed search loads.

The launcher checks the arguments, splits the data and builds the task once;
it then writes the spec and the task's files (`polykeras.search.shared`) to
the project folder, and each chief or worker loads them instead of preparing
the search again. This module imports no backend, so that a worker can read
and check its spec before it loads Keras.

Example:

>>> import tempfile
>>> spec = SearchSpec(task="poly", task_options={"degree": 2}, directory=tempfile.mkdtemp(), project_name="p")
>>> SearchSpec.load(spec.save()) == spec
True
"""

import dataclasses
import json
import os

from polykeras.atomic import write_text

SPEC_FILE = "polykeras_search_spec.json"


@dataclasses.dataclass
class SearchSpec:
    """One search: what it trains, how it searches, and where it lives.

    Attributes:
        task: The task's name: `"poly"`, `"mnist"`, `"model"` or `"hypermodel"`
            (`polykeras.search.resolve.TASKS`).
        task_options: Everything beside the data that makes the task again
            (`Task.options()`: its range, optimizers, batch size, objective...).
        tuner: `"hyperband"`, `"random"`, `"bayesian"` or `"grid"`.
        max_trials: Trials at most (all tuners but Hyperband).
        max_epochs: Epochs per trial at most.
        directory: Where searches live.
        project_name: This search's folder in `directory`.
        overwrite: Whether the search started afresh (the launcher cleared it).
        seed: The tuner's seed.
        verbose: Keras's `fit` verbosity in each trial.
        chief_timeout: Seconds a chief waits for a worker's call before it stops.
        files: The task's files in the project folder, by role (`data`,
            `model`, `hypermodel`; see `polykeras.search.shared`).
    """

    task: str
    task_options: dict
    tuner: str = "hyperband"
    max_trials: int = 10
    max_epochs: int = 10
    directory: str = "logs/tune"
    project_name: str = "search"
    overwrite: bool = False
    seed: int = 0
    verbose: int = 0
    chief_timeout: float = 1800.0
    files: dict = dataclasses.field(default_factory=dict)

    @property
    def project(self):
        """The project folder: KerasTuner's state, the shared files, the TensorBoard logs."""
        return os.path.join(self.directory, self.project_name)

    @property
    def board(self):
        """The TensorBoard folder: one sub-folder per trial, and the HParams config."""
        return os.path.join(self.project, "tensorboard")

    def file(self, role):
        """The path of the task's file for `role` (`data`, `model`, `hypermodel`)."""
        return os.path.join(self.project, self.files[role])

    def save(self):
        """Writes the spec to the project folder, atomically; returns its path."""
        path = os.path.join(self.project, SPEC_FILE)
        os.makedirs(self.project, exist_ok=True)
        write_text(path, json.dumps(dataclasses.asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, path):
        """The spec written at `path`."""
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))
