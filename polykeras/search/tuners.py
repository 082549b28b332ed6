"""The tuners and oracles: KerasTuner's own, with what polykeras adds, chosen by name.

`make_tuner(spec, task)` builds the search algorithm: Hyperband (default),
random, Bayesian or grid. Each tuner is KerasTuner's, subclassed (never
patched): it reports finished trials, writes the HParams of each trial's
TensorBoard run on every backend, and writes its state files atomically;
each oracle also records when a worker last called it, and resumes a killed
search running every trial once (`polykeras.kerastuner_compat`).
`run_trials` runs a tuner's search with a `polykeras.TensorBoard` per trial,
and `write_hparams_config` gives TensorBoard's HParams dashboard the true,
log-scale learning-rate domain.

Example:

>>> import tempfile
>>> from polykeras.search.spec import SearchSpec
>>> from polykeras import tasks
>>> task = tasks.get("poly", max_epochs=2)
>>> spec = SearchSpec("poly", task.options(), tuner="random", max_trials=2, max_epochs=2, directory=tempfile.mkdtemp())
>>> planned_trials(spec, task)
2
"""

import contextlib
import io
import json
import logging
import os
import time

import keras_tuner
from tensorboard.plugins.hparams import summary_v2 as hparams_summary

from polykeras import kerastuner_compat
from polykeras.atomic import write_text
from polykeras.errors import InvalidArgumentError, RunError
from polykeras.tasks import grid_points
from polykeras.tensorboard import EventWriter, TensorBoard

logger = logging.getLogger(__name__)
TUNERS = ("hyperband", "random", "bayesian", "grid")
SPACE_FILE = "polykeras_search.json"
# Hyperband's reduction factor. With max_epochs 9 it plays two brackets (nine
# rates for one epoch, the best carried on to nine; and a few run straight to
# nine): 35 epochs in all, 30 % of a 13-point grid at 9 epochs each.
HYPERBAND_FACTOR = 9


def check_tuner(name):
    if name not in TUNERS:
        raise InvalidArgumentError(f"tuner must be one of {', '.join(TUNERS)}. Received: tuner={name!r}", "tuner")


def make_tuner(spec, task, overwrite=None):
    """The KerasTuner tuner of `spec` over `task`; `overwrite` (default the spec's) clears the project first.

    KerasTuner's note that it reloads a project goes to the log at DEBUG.

    Raises:
        InvalidArgumentError: for an unknown tuner, or a search space that
            differs from the one saved in an existing project (unless overwriting).
    """
    check_tuner(spec.tuner)
    overwrite = spec.overwrite if overwrite is None else overwrite
    check_search_space(task, spec.project, overwrite, spec.tuner)
    project = dict(directory=spec.directory, project_name=spec.project_name, overwrite=overwrite)
    oracle_arguments = dict(objective=task.objective, seed=spec.seed)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # KerasTuner prints "Reloading Tuner from ..."
        if spec.tuner == "hyperband":
            oracle = _HyperbandOracle(max_epochs=spec.max_epochs, factor=HYPERBAND_FACTOR, **oracle_arguments)
            tuner = _Hyperband(oracle, task, **project)
        else:
            oracle_class = {
                "random": _RandomSearchOracle,
                "bayesian": _BayesianOptimizationOracle,
                "grid": _GridSearchOracle,
            }[spec.tuner]
            tuner = _Tuner(oracle_class(max_trials=spec.max_trials, **oracle_arguments), task, **project)
    if printed.getvalue().strip():
        logger.debug("%s", printed.getvalue().strip())
    save_search_space(task, spec.project, spec.tuner)
    return tuner


class _ReportsTrials:
    """Calls `self.trial_callback(trial, seconds)` as each trial ends."""

    trial_callback = None

    def on_trial_begin(self, trial):
        self._trial_start = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.trial_callback is not None:
            self.trial_callback(self.oracle.get_trial(trial.trial_id), time.perf_counter() - self._trial_start)


class _Tuner(_ReportsTrials, kerastuner_compat.HParamsOnEveryBackend, kerastuner_compat.AtomicTuner, keras_tuner.Tuner):
    """KerasTuner's `Tuner` with what polykeras adds: progress, HParams on every backend, atomic state files.

    KerasTuner's `RandomSearch`, `BayesianOptimization` and `GridSearch` are
    this `Tuner` with their oracle; polykeras passes its own oracles.
    """


class _Hyperband(
    _ReportsTrials,
    kerastuner_compat.HParamsOnEveryBackend,
    kerastuner_compat.AtomicTuner,
    kerastuner_compat.HyperbandOnItsOracle,
    keras_tuner.Hyperband,
):
    """KerasTuner's `Hyperband` tuner (it continues trials from checkpoints) on polykeras's `_HyperbandOracle`."""


class _RecordsCalls:
    """Oracle mixin: `last_call`, when a tuner (a worker, in a distributed search) last asked for or reported a trial.

    `clock` says when; a test gives the oracle a clock of its own.
    """

    last_call = None
    clock = staticmethod(time.monotonic)

    def create_trial(self, tuner_id):
        self.last_call = self.clock()
        return super().create_trial(tuner_id)

    def update_trial(self, trial_id, metrics, step=0):
        self.last_call = self.clock()
        return super().update_trial(trial_id, metrics, step=step)

    def end_trial(self, trial):
        self.last_call = self.clock()
        return super().end_trial(trial)


class _Oracle(_RecordsCalls, kerastuner_compat.RetriesUnfinishedTrials, kerastuner_compat.AtomicOracle):
    """What polykeras adds to each KerasTuner oracle: `last_call`, a resume that runs each trial once, atomic files."""


class _RandomSearchOracle(_Oracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOptimizationOracle(_Oracle, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _GridSearchOracle(_Oracle, keras_tuner.oracles.GridSearchOracle):
    pass


class _HyperbandOracle(_Oracle, keras_tuner.oracles.HyperbandOracle):
    pass


def planned_trials(spec, task):
    """How many trials the search will run in all (Hyperband's brackets counted round by round).

    Computed from the spec, so that a worker, whose oracle is the chief's, knows it too.
    """
    if spec.tuner == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(
            objective=task.objective, max_epochs=spec.max_epochs, factor=HYPERBAND_FACTOR
        )
        return kerastuner_compat.hyperband_trials(oracle)
    if spec.tuner == "grid":
        return min(spec.max_trials, len(grid_points(*task.lr_range)) * max(1, len(task.optimizers)))
    return spec.max_trials


def searched_space(task, tuner):
    """What a project is searched over: the task's space (`Task.space`) and the tuner."""
    return {**task.space(), "tuner": tuner}


def check_search_space(task, project_dir, overwrite, tuner):
    """Raises `InvalidArgumentError` when an existing project was searched over another space, or by another tuner."""
    path = os.path.join(project_dir, SPACE_FILE)
    if overwrite or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    space = searched_space(task, tuner)
    if saved != space:
        changed = sorted(k for k in {*saved, *space} if saved.get(k) != space.get(k))
        raise InvalidArgumentError(
            f"the project {project_dir} was searched over another space (changed: {', '.join(changed)}); "
            "start it again with overwrite=True, or search another project with project_name=NAME",
            "overwrite",
        )


def save_search_space(task, project_dir, tuner):
    """Writes the space beside KerasTuner's state, atomically: other processes of the search may be reading it."""
    os.makedirs(project_dir, exist_ok=True)
    write_text(os.path.join(project_dir, SPACE_FILE), json.dumps(searched_space(task, tuner), indent=2))


def write_hparams_config(log_dir, task):
    """Writes the HParams experiment config: the log-scale learning-rate domain and the metrics.

    KerasTuner writes each trial's hyperparameters but no experiment config,
    and would describe a log grid as an additive range; this gives the
    dashboard the true domain (`RealInterval`, sampled log-uniformly).
    """
    low, high = task.lr_range
    hparams = [
        hparams_summary.HParam(
            "learning_rate", hparams_summary.RealInterval(float(low), float(high)), description="log-uniform"
        )
    ]
    if len(task.optimizers) > 1:
        hparams.append(hparams_summary.HParam("optimizer", hparams_summary.Discrete(list(task.optimizers))))
    metrics = [
        hparams_summary.Metric(f"epoch_{n}", group=group, display_name=f"{prefix}{n}")
        for n in task.metric_names()
        for group, prefix in (("validation", "val_"), ("train", ""))
    ]
    with EventWriter(log_dir) as writer:
        writer.write([hparams_summary.hparams_config_pb(hparams, metrics)], step=0)


def run_trials(tuner, spec, trial_callback=None, write_config=True):
    """Runs `tuner.search` with a `TensorBoard` callback per trial; `trial_callback(trial, seconds)` as each ends."""
    if write_config:
        write_hparams_config(spec.board, tuner.hypermodel)
    tuner.trial_callback = trial_callback
    try:
        tuner.search(
            epochs=spec.max_epochs,
            callbacks=[TensorBoard(spec.board, histogram_freq=0, image_freq=0)],
            verbose=spec.verbose,
        )
    except RuntimeError as e:  # KerasTuner's oracle stops a search after several failed trials in a row
        if not any(trial.status == "FAILED" for trial in _trials(tuner)):
            raise
        raise RunError(f"the search stopped after trials failed: {first_failure(tuner)}") from e


def _trials(tuner):
    """The trials of a tuner's oracle (a worker's oracle client holds none)."""
    return getattr(tuner.oracle, "trials", {}).values()


def first_failure(tuner):
    """The error that ended the first failed trial, in one line (KerasTuner keeps its traceback), or a note."""
    for trial in _trials(tuner):
        if trial.status == "FAILED" and trial.message:
            lines = [line.strip() for line in trial.message.strip().splitlines() if line.strip()]
            return f"trial {trial.trial_id}: {lines[-1]}"
    return "no trial ran to the end"


def trial_rows(tuner, max_epochs):
    """One row per trial, best first: `(trial_id, hyperparameters, score, epochs, status)`.

    `epochs` is the trial's epoch budget (Hyperband's `tuner/epochs`, else `max_epochs`).
    """
    rows = []
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        _, epochs = kerastuner_compat.epochs_of(values, max_epochs)
        rows.append((trial.trial_id, kerastuner_compat.public_values(values), trial.score, epochs, trial.status))
    sign = 1 if tuner.oracle.objective.direction == "min" else -1
    return sorted(rows, key=lambda r: (r[2] is None, sign * (r[2] or 0)))


def trained_epochs(tuner, max_epochs):
    """Epochs actually trained over the search (Hyperband continues trials from earlier ones)."""
    total = 0
    for trial in tuner.oracle.trials.values():
        first, last = kerastuner_compat.epochs_of(trial.hyperparameters.values, max_epochs)
        total += last - first
    return total
