"""`search`, the learning-rate search as one call, in this process or over worker processes; and `SearchResult`.

`search` checks its arguments, resolves the task and splits its data once
(`polykeras.search.resolve`), describes the search in a `SearchSpec`, then runs
it here, or writes the spec and the task's files to the project folder and
supervises a chief and workers that load them (`polykeras.search.supervisor`),
or, with KerasTuner's variables set, takes part as one chief or worker of a
search that spans machines (`polykeras.search.roles`).
"""

import dataclasses
import logging
import os
import time

import keras
import keras_tuner

from polykeras import tasks
from polykeras.checks import check_int, check_number
from polykeras.errors import InvalidArgumentError, RunError
from polykeras.optimizers import make_optimizer
from polykeras.search import roles, shared, supervisor, tuners
from polykeras.search.progress import reporter
from polykeras.search.resolve import is_user_model, resolve
from polykeras.search.spec import SearchSpec

CHIEF_TIMEOUT_SECONDS = 1800  # keras-tuner#915: KerasTuner's chief waits forever
logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SearchResult:
    """What `search` found.

    Attributes:
        best_hyperparameters: The best completed trial's values, such as `{"learning_rate": 0.0031}`.
        best_score: Its objective value.
        objective: The objective's name (`val_loss` or `val_accuracy`).
        trials: One dict per trial, best first: `trial_id`, `hyperparameters`,
            `score`, `epochs` (its budget) and `status`.
        trained_epochs: Epochs trained over the whole search.
        seconds: Wall time of the search.
        log_dir: The TensorBoard folder: one sub-folder per trial, and the
            HParams experiment config.
        tuner: The KerasTuner tuner, with the trials the search saved.
    """

    best_hyperparameters: dict
    best_score: float
    objective: str
    trials: list
    trained_epochs: int
    seconds: float
    log_dir: str
    tuner: object = dataclasses.field(repr=False)
    max_epochs: int = dataclasses.field(repr=False, default=None)

    @classmethod
    def from_tuner(cls, tuner, max_epochs, log_dir, seconds):
        """The result of the trials `tuner`'s oracle holds.

        Raises:
            RunError: when no trial completed with a score: a failed trial is never the best.
        """
        trials = [
            {
                "trial_id": t,
                "hyperparameters": hp,
                "score": None if score is None else float(score),
                "epochs": epochs,
                "status": status,
            }
            for t, hp, score, epochs, status in tuners.trial_rows(tuner, max_epochs)
        ]
        best = next((t for t in trials if t["status"] == "COMPLETED" and t["score"] is not None), None)
        if best is None:
            raise RunError(f"no trial completed ({len(trials)} ended): {tuners.first_failure(tuner)}")
        return cls(
            best_hyperparameters=best["hyperparameters"],
            best_score=best["score"],
            objective=tuner.oracle.objective.name,
            trials=trials,
            trained_epochs=tuners.trained_epochs(tuner, max_epochs),
            seconds=seconds,
            log_dir=log_dir,
            tuner=tuner,
            max_epochs=max_epochs,
        )

    def best_model(self, epochs=None, verbose=0):
        """Builds the best trial's model afresh and trains it for `epochs` (default: the search's `max_epochs`).

        Returns:
            The trained `keras.Model`.
        """
        hypermodel, best = self.tuner.hypermodel, self.tuner.get_best_hyperparameters(1)[0]
        model = hypermodel.build(best)
        hypermodel.fit(best, model, epochs=epochs or self.max_epochs, verbose=verbose)
        return model

    def as_json(self):
        return {
            "best_hyperparameters": self.best_hyperparameters,
            "best_score": self.best_score,
            "objective": self.objective,
            "trials": self.trials,
            "trained_epochs": self.trained_epochs,
            "search_seconds": self.seconds,
            "log_dir": self.log_dir,
        }


def search(
    task,
    x=None,
    y=None,
    *,
    tuner="hyperband",
    max_trials=10,
    max_epochs=None,
    directory="logs/tune",
    project_name=None,
    overwrite=False,
    lr_range=None,
    optimizers=None,
    seed=0,
    from_lr_find=False,
    verbose=0,
    workers=0,
    port=0,
    devices=None,
    chief_timeout=CHIEF_TIMEOUT_SECONDS,
    on_trial_end=None,
    validation_data=None,
    validation_split=None,
    batch_size=None,
    objective=None,
):
    """Searches the learning rate (and optionally the optimizer) of `task` with KerasTuner.

    Running the same search again continues it: finished trials are not
    trained again. With `workers=N` it runs as KerasTuner's distributed mode
    on 127.0.0.1, a chief and N worker processes that are restarted when
    they die (`polykeras.search.supervisor`); the task reaches them through
    the project folder (`polykeras.search.shared`: a compiled model as
    `.keras`, loaded with `safe_mode=True`; a `HyperModel` or `build(hp)`
    pickled, its module imported again in each worker, so a script that
    defines it needs an `if __name__ == "__main__":` guard, as with
    `multiprocessing`). With KerasTuner's own variables set
    (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`),
    this process takes part as that one chief or worker instead, which is
    how a search spans machines: each runs the same call, with the same data.

    Args:
        task: A compiled `keras.Model` (each trial trains a fresh clone, see
            `user_tasks.ModelTask`); a KerasTuner `HyperModel` or a `build(hp)`
            function that returns a compiled model (`user_tasks.HypermodelTask`);
            or `"poly"` (the polynomial, objective `val_loss`) or `"mnist"`
            (the MLP, objective `val_accuracy`).
        x: A model's training inputs, or a task's data (see `polykeras.tasks.get`).
        y: A model's training targets.
        tuner: `"hyperband"`, `"random"`, `"bayesian"` or `"grid"`.
        max_trials: Trials at most (all but Hyperband).
        max_epochs: Epochs per trial at most (default: 20 for poly, 9 for
            mnist, 10 for a model).
        directory: Where searches live.
        project_name: The search's folder in `directory` (default: the task's,
            the model's or the hypermodel's name).
        overwrite: Start the project again from scratch.
        lr_range: `(low, high)` of the log-uniform rate.
        optimizers: Optimizer names to choose from as well.
        seed: The tuner's seed (and the synthetic polynomial's noise).
        from_lr_find: Centre the range on `lr_find`'s suggestion, a decade
            either side, swept on a model built as the trials' are.
        verbose: Keras's `fit` verbosity in each trial.
        workers: Worker processes on 127.0.0.1 (0: search in this process).
        port: The chief's port with `workers` (0: a free one).
        devices: With `workers`, the accelerators to give them, round robin
            (CUDA device ids); by default every one this machine shows, so
            that each worker has its own; `[]` for none.
        chief_timeout: Seconds a chief waits for a call from any worker while
            the search is unfinished before it stops.
        on_trial_end: Called with a dict for each finished trial: `number`,
            `total`, `trial_id`, `hyperparameters`, `score`, `best_score`,
            `objective`, `seconds`, `status` (`progress.trial_progress`).
        validation_data: For a model of the user's: `(x, y)` to validate on.
        validation_split: For a model of the user's without
            `validation_data`: the last share of `x` and `y` validated on
            (default 0.2).
        batch_size: For a model of the user's: `fit`'s (default 32).
        objective: For a model of the user's: what the search optimises, a
            metric its trials log (default `"val_loss"`; checked before any
            trial), or a `keras_tuner.Objective`.

    Returns:
        A `SearchResult`; None in a worker of a search over several machines.

    Raises:
        InvalidArgumentError: for any bad argument, before anything is trained.
        RunError: when no trial completed, or a process of a distributed search fails for good.

    Example:

    >>> import tempfile
    >>> result = search("poly", tuner="random", max_trials=2, max_epochs=3, directory=tempfile.mkdtemp())
    >>> len(result.trials), sorted(result.best_hyperparameters)
    (2, ['learning_rate'])
    """
    start = time.perf_counter()
    role = os.environ.get("KERASTUNER_TUNER_ID")
    _check_arguments(tuner, max_trials, max_epochs, optimizers, seed, workers, port, chief_timeout)
    found = resolve(
        task,
        x,
        y,
        max_epochs=max_epochs,
        lr_range=lr_range,
        optimizers=optimizers,
        grid=tuner == "grid",
        seed=seed,
        validation_data=validation_data,
        validation_split=validation_split,
        batch_size=batch_size,
        objective=objective,
    )
    spec = SearchSpec(
        found.task_name,
        {},
        tuner=tuner,
        max_trials=max_trials,
        max_epochs=found.max_epochs,
        directory=os.fspath(directory),
        project_name=project_name or default_project_name(task),
        overwrite=overwrite,
        seed=seed,
        verbose=verbose,
        chief_timeout=chief_timeout,
    )
    _make_project(spec)
    if from_lr_find:
        centre_on_lr_find(found, seed)
    spec.task_options = found.options()
    total = tuners.planned_trials(spec, found)
    if role is not None:
        searched = roles.take_part(role, spec, found, on_trial_end=on_trial_end, total=total, overwrite=overwrite)
        if searched is None:
            return None
    elif workers:
        if port:
            supervisor.check_port_free(port)
        searched = tuners.make_tuner(spec, found)  # checks the space against the project's, clears it with overwrite
        supervisor.supervise(
            shared.share(spec, found),
            spec,
            workers,
            port=port,
            devices=devices,
            total=total,
            objective=found.objective,
            on_trial_end=on_trial_end,
        )
        searched.oracle.reload()  # the trials the chief's oracle saved
    else:
        searched = tuners.make_tuner(spec, found)
        tuners.run_trials(searched, spec, reporter(searched.oracle, total, found.objective, on_trial_end))
    return SearchResult.from_tuner(searched, spec.max_epochs, spec.board, time.perf_counter() - start)


def _check_arguments(
    tuner="hyperband",
    max_trials=10,
    max_epochs=None,
    optimizers=None,
    seed=0,
    workers=0,
    port=0,
    chief_timeout=CHIEF_TIMEOUT_SECONDS,
):
    """Raises `InvalidArgumentError` for a bad argument of `search` other than the task and its data."""
    tuners.check_tuner(tuner)
    check_int(max_trials, "max_trials")
    if max_epochs is not None:
        check_int(max_epochs, "max_epochs")
    check_int(seed, "seed", at_least=0)
    check_int(workers, "workers", at_least=0)
    check_int(port, "port", at_least=0, at_most=65535)
    check_number(chief_timeout, "chief_timeout", above=0)
    for name in optimizers or ("sgd",):
        make_optimizer(name, 1e-3)  # an unknown name fails here, not in every trial


def _make_project(spec):
    try:
        os.makedirs(spec.project, exist_ok=True)
    except OSError as e:
        raise InvalidArgumentError(
            f"directory cannot be written ({e.strerror}). Received: directory={spec.directory!r}", "directory"
        ) from None


def centre_on_lr_find(task, seed):
    """Sets the task's range to a decade either side of its `lr_find` suggestion.

    Clipped to a built-in task's search range, or to a model's sweep.
    """
    found = task.lr_find(seed=seed)
    low, high = task.learning_rates if task.task_name in tasks.BUILT_IN else task.lr_find_rates
    centre = min(max(found.suggestion, low), high)
    task.lr_range = (max(low, centre / 10), min(high, centre * 10))
    logger.info("lr-find suggests %.3g; searching %.3g to %.3g", found.suggestion, *task.lr_range)


def default_project_name(task):
    """The project folder's name: the task's, the model's, or the user's hypermodel class or `build` function's."""
    if isinstance(task, keras.Model):
        return task.name
    if isinstance(task, keras_tuner.HyperModel):
        return type(task).__name__
    return getattr(task, "__name__", "hypermodel") if is_user_model(task) else task
