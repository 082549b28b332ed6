"""Learning-rate search with KerasTuner, in this process: for any compiled Keras model, the polynomial and the MLP.

A `keras_tuner.HyperModel` (`polykeras.hypermodels`) defines the search space
(the learning rate, log-uniform, and optionally the optimizer); `make_tuner` picks the
search algorithm (Hyperband by default, random, Bayesian or grid). Every trial
logs through `polykeras.TensorBoard` into its own folder, and
`write_hparams_config` gives TensorBoard's HParams dashboard the true,
log-scale learning-rate domain. The same search runs on several processes or
machines with KerasTuner's distributed mode (see `polykeras tune --workers`).
"""

import dataclasses
import json
import logging
import math
import os
import time

import keras
import keras_tuner
import numpy as np
from tensorboard.plugins.hparams import summary_v2 as hparams_summary

from polykeras import backend, kerastuner_compat
from polykeras.atomic import write_text
from polykeras.checks import check_int, make_optimizer
from polykeras.errors import InvalidArgumentError
from polykeras.hypermodels import (  # noqa: F401  (the names tuning offered before hypermodels had a module)
    GRID_POINTS_PER_DECADE,
    LEARNING_RATE_RANGES,
    MAX_EPOCHS,
    OBJECTIVES,
    TASKS,
    LearningRateHyperModel,
    MnistHyperModel,
    ModelHyperModel,
    PolynomialHyperModel,
    check_task,
    grid_points,
    learning_rate,
    make_hypermodel,
    is_users,
    task_data,
    task_name,
)
from polykeras.tensorboard import EventWriter, TensorBoard
from polykeras.tensorboard.events import image_summary, scalar_value

logger = logging.getLogger(__name__)


TUNERS = ("hyperband", "random", "bayesian", "grid")
SPACE_FILE = "polykeras_search.json"
# Hyperband's reduction factor. With max_epochs 9 it plays two brackets (nine
# rates for one epoch, the best carried on to nine; and a few run straight to
# nine): 35 epochs in all, 30 % of a 13-point grid at 9 epochs each.
HYPERBAND_FACTOR = 9


def make_tuner(name, hypermodel, max_trials=10, max_epochs=10, directory="logs/tune", project_name="search",
               overwrite=False, seed=0):
    """A KerasTuner tuner by name: `hyperband` (default), `random`, `bayesian` or `grid`.

    Raises:
        ValueError: for an unknown name, or a search space that differs from
            the one saved in an existing project (unless `overwrite`).
    """
    if name not in TUNERS:
        raise InvalidArgumentError(f"tuner must be one of {', '.join(TUNERS)}. Received: tuner={name!r}")
    check_search_space(hypermodel, os.path.join(directory, project_name), overwrite)
    common = dict(directory=directory, project_name=project_name, overwrite=overwrite)
    oracle = dict(objective=hypermodel.objective, seed=seed)
    if name == "hyperband":
        tuner = _Hyperband(_HyperbandOracle(max_epochs=max_epochs, factor=HYPERBAND_FACTOR, **oracle), hypermodel,
                           **common)
    elif name == "random":
        tuner = _Tuner(_RandomSearchOracle(max_trials=max_trials, **oracle), hypermodel, **common)
    elif name == "bayesian":
        tuner = _Tuner(_BayesianOptimizationOracle(max_trials=max_trials, **oracle), hypermodel, **common)
    else:
        tuner = _Tuner(_GridSearchOracle(max_trials=max_trials, **oracle), hypermodel, **common)
    save_search_space(hypermodel, os.path.join(directory, project_name))
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


class _Tuner(_ReportsTrials, kerastuner_compat.HParamsOnEveryBackend, kerastuner_compat.AtomicTuner,
             keras_tuner.Tuner):
    """KerasTuner's `Tuner` with what polykeras adds: progress, HParams on every backend, atomic state files.

    KerasTuner's `RandomSearch`, `BayesianOptimization` and `GridSearch` are
    this `Tuner` with their oracle; polykeras passes its own oracles.
    """


class _Hyperband(_ReportsTrials, kerastuner_compat.HParamsOnEveryBackend, kerastuner_compat.AtomicTuner,
                 keras_tuner.Hyperband):
    """KerasTuner's `Hyperband` tuner (it continues trials from checkpoints) on polykeras's `_HyperbandOracle`."""

    def __init__(self, oracle, hypermodel, **kwargs):
        # keras_tuner.Hyperband.__init__ only builds its oracle and passes it to Tuner's.
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


class _RecordsCalls:
    """Oracle mixin: `last_call`, when a tuner (a worker, in a distributed search) last asked for or reported a trial."""

    last_call = None

    def create_trial(self, tuner_id):
        self.last_call = time.monotonic()
        return super().create_trial(tuner_id)

    def update_trial(self, trial_id, metrics, step=0):
        self.last_call = time.monotonic()
        return super().update_trial(trial_id, metrics, step=step)

    def end_trial(self, trial):
        self.last_call = time.monotonic()
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


def planned_trials(tuner):
    """How many trials the search will run in all (Hyperband's brackets counted round by round)."""
    oracle = tuner.oracle
    if isinstance(oracle, keras_tuner.oracles.HyperbandOracle):
        return kerastuner_compat.hyperband_trials(oracle)
    if isinstance(oracle, keras_tuner.oracles.GridSearchOracle):
        space = len(grid_points(*tuner.hypermodel.lr_range)) * max(1, len(tuner.hypermodel.optimizers))
        return min(oracle.max_trials, space)
    return oracle.max_trials


def check_search_space(hypermodel, project_dir, overwrite):
    """Raises `ValueError` when an existing project was searched over another space."""
    path = os.path.join(project_dir, SPACE_FILE)
    if overwrite or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    if saved != hypermodel.space():
        changed = sorted(k for k in {*saved, *hypermodel.space()} if saved.get(k) != hypermodel.space().get(k))
        raise InvalidArgumentError(
            f"the project {project_dir} was searched over another space (changed: {', '.join(changed)}); "
            "start it again with overwrite=True, or search another project with project_name=NAME", "overwrite")


def save_search_space(hypermodel, project_dir):
    """Writes the space beside KerasTuner's state, atomically: other processes of the search may be reading it."""
    os.makedirs(project_dir, exist_ok=True)
    write_text(os.path.join(project_dir, SPACE_FILE), json.dumps(hypermodel.space(), indent=2))


def write_hparams_config(log_dir, hypermodel):
    """Writes the HParams experiment config: the log-scale learning-rate domain and the metrics.

    KerasTuner writes each trial's hyperparameters but no experiment config,
    and would describe a log grid as an additive range; this gives the
    dashboard the true domain (`RealInterval`, sampled log-uniformly).
    """
    low, high = hypermodel.lr_range
    hparams = [hparams_summary.HParam("learning_rate", hparams_summary.RealInterval(float(low), float(high)),
                                      description="log-uniform")]
    if len(hypermodel.optimizers) > 1:
        hparams.append(hparams_summary.HParam("optimizer", hparams_summary.Discrete(list(hypermodel.optimizers))))
    names = hypermodel.metric_names()
    metrics = [hparams_summary.Metric(f"epoch_{n}", group=group, display_name=f"{prefix}{n}")
               for n in names for group, prefix in (("validation", "val_"), ("train", ""))]
    with EventWriter(log_dir) as writer:
        writer.write([hparams_summary.hparams_config_pb(hparams, metrics)], step=0)


def trial_rows(tuner, max_epochs):
    """One row per trial, best first: `(trial_id, hyperparameters, score, epochs, status)`.

    `epochs` is the trial's epoch budget (Hyperband's `tuner/epochs`, else `max_epochs`).
    """
    rows = []
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        public = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        rows.append((trial.trial_id, public, trial.score, values.get("tuner/epochs", max_epochs), trial.status))
    sign = 1 if tuner.oracle.objective.direction == "min" else -1
    return sorted(rows, key=lambda r: (r[2] is None, sign * (r[2] or 0)))


def trained_epochs(tuner, max_epochs):
    """Epochs actually trained over the search (Hyperband continues trials from earlier ones)."""
    total = 0
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        total += values.get("tuner/epochs", max_epochs) - values.get("tuner/initial_epoch", 0)
    return total


# ----------------------------------------------------------------------------
# The search as one call


@dataclasses.dataclass
class SearchResult:
    """What `search` found.

    Attributes:
        best_hyperparameters: The best trial's values, such as `{"learning_rate": 0.0031}`.
        best_score: Its objective value (None if no trial completed).
        objective: The objective's name (`val_loss` or `val_accuracy`).
        trials: One dict per trial, best first: `trial_id`, `hyperparameters`,
            `score`, `epochs` (its budget) and `status`.
        trained_epochs: Epochs trained over the whole search.
        seconds: Wall time of the search.
        log_dir: The TensorBoard folder: one sub-folder per trial, and the
            HParams experiment config.
        tuner: The KerasTuner tuner, reloaded from the project folder.
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
        trials = [{"trial_id": t, "hyperparameters": hp, "score": None if score is None else float(score),
                   "epochs": epochs, "status": status}
                  for t, hp, score, epochs, status in trial_rows(tuner, max_epochs)]
        best = {k: v for k, v in tuner.get_best_hyperparameters(1)[0].values.items() if not k.startswith("tuner/")}
        return cls(best_hyperparameters=best, best_score=next((t["score"] for t in trials if t["score"] is not None), None),
                   objective=tuner.oracle.objective.name, trials=trials,
                   trained_epochs=trained_epochs(tuner, max_epochs), seconds=seconds, log_dir=log_dir, tuner=tuner,
                   max_epochs=max_epochs)

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
        return {"best_hyperparameters": self.best_hyperparameters, "best_score": self.best_score,
                "objective": self.objective, "trials": self.trials, "trained_epochs": self.trained_epochs,
                "search_seconds": self.seconds, "log_dir": self.log_dir}


def check_search_args(task, tuner="hyperband", max_trials=10, max_epochs=None, optimizers=None, seed=0):
    """Raises `InvalidArgumentError` for any bad argument of `search`, before anything runs."""
    check_task(task)
    max_epochs = MAX_EPOCHS[task_name(task)] if max_epochs is None else max_epochs
    if tuner not in TUNERS:
        raise InvalidArgumentError(f"tuner must be one of {', '.join(TUNERS)}. Received: tuner={tuner!r}", "tuner")
    check_int(max_trials, "max_trials")
    check_int(max_epochs, "max_epochs")
    check_int(seed, "seed", at_least=0)
    for name in optimizers or ("sgd",):
        make_optimizer(name, 1e-3)  # an unknown name fails here, not in every trial


def centred_lr_range(task, suggestion):
    """A decade either side of lr-find's suggestion, clipped to the task's range (to lr_find's for the user's)."""
    low, high = LEARNING_RATE_RANGES[task] if task in TASKS else LR_FIND_RANGES[task]
    centre = min(max(suggestion, low), high)
    return max(low, centre / 10), min(high, centre * 10)


@dataclasses.dataclass
class SearchSetup:
    """A search's checked arguments, its data and its hypermodel, made once per process by `prepare_search`."""

    task: str
    data: tuple
    hypermodel: keras_tuner.HyperModel
    tuner: str
    max_trials: int
    max_epochs: int
    directory: str
    project_name: str
    overwrite: bool
    seed: int
    verbose: int

    @property
    def project(self):
        return os.path.join(self.directory, self.project_name)

    @property
    def board(self):
        """The TensorBoard folder: one sub-folder per trial, and the HParams config."""
        return os.path.join(self.project, "tensorboard")


def prepare_search(task, data=None, *, tuner="hyperband", max_trials=10, max_epochs=None, directory="logs/tune",
                   project_name=None, overwrite=False, lr_range=None, optimizers=None, seed=0, from_lr_find=False,
                   verbose=0, **model_options):
    """Checks `search`'s arguments, loads the data and builds the hypermodel; creates the project folder.

    `model_options` are `ModelHyperModel`'s (`validation_data`,
    `validation_split`, `batch_size`, `objective`), for a model only.

    Raises:
        InvalidArgumentError: for any bad argument, before anything is trained.
    """
    check_search_args(task, tuner, max_trials, max_epochs, optimizers, seed)
    max_epochs = MAX_EPOCHS[task_name(task)] if max_epochs is None else max_epochs
    optimizers = list(optimizers) if optimizers else None
    if model_options and not is_users(task):
        raise InvalidArgumentError(f"{', '.join(sorted(model_options))} apply to a model's search, not to task={task!r}",
                                   sorted(model_options)[0])
    data = task_data(task, data, seed)
    project_name = project_name or default_project_name(task)
    try:
        os.makedirs(os.path.join(directory, project_name), exist_ok=True)
    except OSError as e:
        raise InvalidArgumentError(f"directory cannot be written ({e.strerror}). Received: directory={directory!r}",
                                   "directory") from None
    hypermodel = make_hypermodel(task, data, max_epochs, lr_range, optimizers, grid=tuner == "grid", **model_options)
    if from_lr_find:
        backend.set_random_seed(seed)
        found = sweep_hypermodel(hypermodel, *LR_FIND_RANGES[task_name(task)], seed=seed)
        hypermodel.lr_range = centred_lr_range(task_name(task), found.suggestion)
        logger.info("lr-find suggests %.3g; searching %.3g to %.3g", found.suggestion, *hypermodel.lr_range)
    return SearchSetup(task, data, hypermodel, tuner, max_trials, max_epochs, directory, project_name, overwrite,
                       seed, verbose)


def build_tuner(setup, overwrite=None):
    """The setup's KerasTuner tuner; `overwrite` (default the setup's) starts the project afresh."""
    return make_tuner(setup.tuner, setup.hypermodel, max_trials=setup.max_trials, max_epochs=setup.max_epochs,
                      directory=setup.directory, project_name=setup.project_name,
                      overwrite=setup.overwrite if overwrite is None else overwrite, seed=setup.seed)


def run_trials(tuner, setup, on_trial_end=None, write_config=True):
    """Runs `tuner.search` with a `TensorBoard` callback per trial, reporting each finished trial to `on_trial_end`."""
    if write_config:
        write_hparams_config(setup.board, setup.hypermodel)
    tuner.trial_callback = _progress_reporter(tuner, on_trial_end)
    tuner.search(epochs=setup.max_epochs, callbacks=[TensorBoard(setup.board, histogram_freq=0, image_freq=0)],
                 verbose=setup.verbose)


def default_project_name(task):
    """The project folder's name: the task's, the model's, or the user's hypermodel class or `build` function's."""
    if isinstance(task, keras.Model):
        return task.name
    if isinstance(task, keras_tuner.HyperModel):
        return type(task).__name__
    return getattr(task, "__name__", "hypermodel") if is_users(task) else task


def search_data(task, x=None, y=None):
    """The `data` of `prepare_search` from `search`'s `x` and `y`: a task's data is `x` alone."""
    if is_users(task):
        return (x, y)
    if y is not None:
        raise InvalidArgumentError(f"y applies to a model's search; task={task!r} takes its data as x. "
                                   f"Received: y of type {type(y).__name__}", "y")
    return x


def search(task, x=None, y=None, *, on_trial_end=None, **options):
    """Searches the learning rate (and optionally the optimizer) of `task` with KerasTuner, in this process.

    Running the same search again continues it: finished trials are not
    trained again. `polykeras.search` is this search spread over worker
    processes or machines as well (`polykeras.distributed.search`).

    Args:
        task: A compiled `keras.Model` (each trial trains a fresh clone, see
            `ModelHyperModel`); a KerasTuner `HyperModel` or a `build(hp)`
            function that returns a compiled model (see `BuiltHyperModel`);
            or `"poly"` (the polynomial, objective `val_loss`) or `"mnist"`
            (the MLP, objective `val_accuracy`).
        x: A model's training inputs, or a task's data (see `task_data`).
        y: A model's training targets.
        on_trial_end: Called with a dict for each finished trial: `number`,
            `total`, `trial_id`, `hyperparameters`, `score`, `best_score`,
            `objective`, `seconds`, `status`. `number` counts the search's
            finished trials when this one is reported: in a worker of a
            search over several machines, two trials that end together may
            both be reported with the same count.
        **options: `prepare_search`'s: `tuner` (`"hyperband"`, `"random"`,
            `"bayesian"` or `"grid"`), `max_trials`, `max_epochs` (default
            20 for poly, 9 for mnist), `directory`, `project_name` (default:
            the task), `overwrite`, `lr_range` (`(low, high)` of the
            log-uniform rate), `optimizers` (names to choose from as well),
            `seed`, `from_lr_find` (centre the range on `lr_find`'s
            suggestion, swept on a model built as the trials' are),
            `verbose` (Keras's `fit` verbosity in each trial); for the
            user's model or hypermodel also `validation_data`,
            `validation_split` (default 0.2), `batch_size` (default 32) and
            `objective` (default `"val_loss"`).

    Returns:
        A `SearchResult`.

    Example:

    >>> import tempfile
    >>> result = search("poly", tuner="random", max_trials=2, max_epochs=3, directory=tempfile.mkdtemp())
    >>> len(result.trials), sorted(result.best_hyperparameters)
    (2, ['learning_rate'])
    """
    start = time.perf_counter()
    setup = prepare_search(task, search_data(task, x, y), **options)
    searched = build_tuner(setup)
    run_trials(searched, setup, on_trial_end)
    return SearchResult.from_tuner(searched, setup.max_epochs, setup.board, time.perf_counter() - start)


def _progress_reporter(tuner, on_trial_end):
    """Turns KerasTuner's finished trials into `on_trial_end` dicts (None without a callable)."""
    if on_trial_end is None:
        return None
    total = planned_trials(tuner)
    objective = tuner.oracle.objective

    def report(trial, seconds):
        on_trial_end(trial_progress(trial.get_state(), finished_scores(tuner.oracle, total), total, objective,
                                    seconds))

    return report


def finished_scores(oracle, total):
    """The scores of the search's finished trials, from its oracle or, in a worker, from the chief's.

    A worker's oracle is KerasTuner's `OracleClient`, which has no `trials`
    but forwards `get_best_trials` to the chief. That pads its answer with
    unfinished trials when fewer have finished than were asked for.
    """
    trials = oracle.trials.values() if hasattr(oracle, "trials") else oracle.get_best_trials(max(total or 0, 1000))
    return [t.score for t in trials if t.status == "COMPLETED"]


def trial_progress(state, scores, total, objective, seconds):
    """The dict `search` passes to `on_trial_end`, from a trial's saved state (`trial.json`) and the finished scores."""
    number = len(scores)
    scores = [s for s in scores if s is not None]
    best = (min if objective.direction == "min" else max)(scores) if scores else None
    values = state["hyperparameters"]["values"]
    return {"number": number, "total": total, "trial_id": state["trial_id"],
            "hyperparameters": {k: v for k, v in values.items() if not k.startswith("tuner/")},
            "score": state.get("score"), "best_score": best, "objective": objective.name,
            "seconds": seconds, "status": state["status"]}


# ----------------------------------------------------------------------------
# The learning-rate range test


class LearningRateSweep(keras.callbacks.Callback):
    """Raises the learning rate exponentially every batch and records each batch's loss.

    Keras reports the running mean of the epoch's loss; batch k's own loss is
    `k * mean_k - (k - 1) * mean_(k-1)`. The sweep counts batches across
    epochs and stops after the last rate, or once the smoothed loss exceeds
    four times its best (the rate has made training diverge).

    Args:
        start: The first learning rate.
        stop: The last learning rate.
        steps: Batches in the sweep.
    """

    def __init__(self, start, stop, steps):
        super().__init__()
        self.rates = np.geomspace(start, stop, steps)
        self.losses = []
        self.diverged = False
        self._mean = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = float(self.rates[len(self.losses)])

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        loss = (batch + 1) * mean - batch * (self._mean if batch else 0.0)
        self._mean = mean
        self.losses.append(loss)
        smoothed = smooth(self.losses)
        self.diverged = not math.isfinite(loss) or smoothed[-1] > 4 * min(smoothed)
        if self.diverged or len(self.losses) == len(self.rates):
            self.model.stop_training = True


def smooth(values, beta=0.9):
    """Exponential moving average with bias correction."""
    out, average = [], 0.0
    for k, v in enumerate(values, start=1):
        average = beta * average + (1 - beta) * v
        out.append(average / (1 - beta**k))
    return np.asarray(out)


def suggest_learning_rate(rates, losses):
    """A tenth of the rate where the smoothed loss is lowest (Smith's rule of thumb)."""
    smoothed = smooth(losses)
    return float(rates[int(np.nanargmin(smoothed))] / 10)


# The rates `lr_find` sweeps on each task, and on the user's models when the search runs it (`from_lr_find`).
LR_FIND_RANGES = {"poly": (1e-4, 10.0), "mnist": (1e-6, 1.0), "model": (1e-7, 10.0), "hypermodel": (1e-7, 10.0)}


def check_lr_find_steps(steps):
    check_int(steps, "steps", at_least=2)


SUGGESTION_METHOD = "a tenth of the rate at the smoothed loss's minimum (Smith)"


@dataclasses.dataclass
class LrFindResult:
    """What `lr_find` measured.

    Attributes:
        task: `"poly"` or `"mnist"`, or None for a model of the caller's.
        rates: The learning rates tried, one per step.
        losses: The loss at each rate.
        smoothed: `losses`, exponentially smoothed (bias-corrected).
        suggestion: The suggested learning rate.
        method: How the suggestion was chosen.
        diverged: Whether the loss exploded and ended the test early.
    """

    task: str
    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    method: str = SUGGESTION_METHOD
    diverged: bool = False

    def as_json(self):
        return {"suggested_learning_rate": self.suggestion, "learning_rates": self.rates.tolist(),
                "losses": self.losses.tolist()}


def lr_find(model, x=None, y=None, *, batch_size=32, start_lr=1e-7, end_lr=10.0, steps=100, seed=0):
    """The learning-rate range test on any compiled Keras model; the model is left exactly as it was.

    The rate grows exponentially from `start_lr` to `end_lr`, one batch per
    rate, with the model's own optimizer and loss, while each batch's loss is
    recorded. A loss that explodes ends the test early (`diverged`), without
    an error. Afterwards every variable of the model and of its optimizer
    (weights, moments, step count, random-seed states, the learning rate)
    holds the value it had before, bit for bit.

    Args:
        model: A compiled `keras.Model` with a constant learning rate, or a
            built-in task's name (`"poly"`, `"mnist"`; then `x` is its data,
            see `task_lr_find`).
        x: Inputs (arrays in any structure the model takes), or a
            `keras.utils.PyDataset` of `(x, y)` batches.
        y: Targets, in the form the compiled loss takes (None with a PyDataset).
        batch_size: Samples per step with arrays.
        start_lr: The first learning rate.
        end_lr: The last learning rate.
        steps: Learning rates tried.
        seed: Seed of the batches' order.

    Returns:
        An `LrFindResult`.

    Example:

    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(256, 3))
    >>> before = [w.copy() for w in model.get_weights()]
    >>> result = lr_find(model, x, x @ [1.0, 2.0, 3.0], steps=50, start_lr=1e-4, end_lr=10)
    >>> 1e-4 < result.suggestion < 1.0, all((a == b).all() for a, b in zip(before, model.get_weights()))
    (True, True)
    """
    if isinstance(model, str):
        return task_lr_find(model, x, steps=steps, seed=seed)
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        raise InvalidArgumentError(f"model must be a compiled keras.Model. Received: model={model!r}")
    check_lr_find_steps(steps)
    check_int(batch_size, "batch_size")
    if not (0 < start_lr < end_lr):
        raise InvalidArgumentError(f"start_lr and end_lr must satisfy 0 < start_lr < end_lr. "
                                   f"Received: start_lr={start_lr!r}, end_lr={end_lr!r}")
    if not isinstance(model.optimizer.learning_rate, keras.Variable):
        raise InvalidArgumentError("lr_find needs an optimizer with a constant learning rate, not a schedule. "
                                   f"Received: learning_rate={model.optimizer.learning_rate!r}")
    sweep = LearningRateSweep(start_lr, end_lr, steps)
    with _restored(model):
        if isinstance(x, keras.utils.PyDataset):
            model.fit(x, epochs=math.ceil(steps / len(x)), callbacks=[sweep], verbose=0)
        else:
            inputs, targets = _sweep_batches(x, y, batch_size, steps, seed)
            model.fit(inputs, targets, batch_size=batch_size, epochs=1, callbacks=[sweep], verbose=0, shuffle=False)
    rates, losses = sweep.rates[: len(sweep.losses)], np.asarray(sweep.losses)
    return LrFindResult(task=None, rates=rates, losses=losses, smoothed=smooth(losses),
                        suggestion=suggest_learning_rate(rates, losses), diverged=sweep.diverged)


class _restored:
    """Copies every variable of a model and of its optimizer on entry, and puts each value back on exit."""

    def __init__(self, model):
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        self._variables = list(model.variables) + list(optimizer.variables)
        self._optimizer, self._rate = optimizer, optimizer.learning_rate

    def __enter__(self):
        self._values = [keras.ops.convert_to_numpy(v).copy() for v in self._variables]
        self._rate_value = keras.ops.convert_to_numpy(self._rate).copy()

    def __exit__(self, *exc):
        for variable, value in zip(self._variables, self._values):
            variable.assign(value)
        self._rate.assign(self._rate_value)


def _sweep_batches(x, y, batch_size, steps, seed):
    """`steps` batches of `(x, y)` in a row: the data reshuffled as often as the sweep needs it."""
    count = len(keras.tree.flatten(x)[0])
    rounds = math.ceil(steps * batch_size / count)
    order = np.concatenate([np.random.default_rng(seed + k).permutation(count) for k in range(rounds)])
    order = order[: steps * batch_size]
    return (keras.tree.map_structure(lambda a: np.asarray(a)[order], data) for data in (x, y))


def task_lr_find(task, data=None, *, steps=100, seed=0):
    """Runs the learning-rate range test on a fresh model of `task`, built as the search builds each trial's.

    The model is the task's hypermodel's (`build_for_sweep`: its
    optimizer and loss, with a constant rate), swept over the task's range
    (`LR_FIND_RANGES`) on the search's training part, at the search's batch
    size: the polynomial takes one full-batch SGD step per rate, the MLP one
    batch of 64 with Adam.

    Args:
        task: `"poly"` or `"mnist"`.
        data: The task's data; None for its default (see `task_data`).
        steps: Learning rates tried, spread exponentially over the task's range.
        seed: Keras's seed.

    Returns:
        An `LrFindResult`.

    Example:

    >>> result = lr_find("poly", steps=40)
    >>> 1e-4 < result.suggestion < 1.0
    True
    """
    check_task(task)
    check_lr_find_steps(steps)
    hypermodel = make_hypermodel(task, task_data(task, data, seed), MAX_EPOCHS[task])
    backend.set_random_seed(seed)
    start, stop = LR_FIND_RANGES[task]
    return dataclasses.replace(sweep_hypermodel(hypermodel, start, stop, steps=steps, seed=seed), task=task)


def sweep_hypermodel(hypermodel, start_lr, end_lr, steps=100, seed=0):
    """`lr_find` on a model `hypermodel` builds as each trial's, on its training data at its batch size."""
    return lr_find(hypermodel.build_for_sweep(start_lr), *hypermodel.train, batch_size=hypermodel.batch_size,
                   start_lr=start_lr, end_lr=end_lr, steps=steps, seed=seed)


def write_lr_find_events(log_dir, result, picture=None):
    """Writes a learning-rate range test to TensorBoard: rate, loss and smoothed loss per step, and its picture.

    Args:
        log_dir: The run folder; events go to `log_dir/train`.
        result: An `LrFindResult` from `lr_find`.
        picture: The plot as a uint8 RGB array (`polykeras.plots.plot_lr_find`), if any.
    """
    with EventWriter(os.path.join(log_dir, "train")) as writer:
        for step, (rate, loss, smoothed) in enumerate(zip(result.rates, result.losses, result.smoothed)):
            writer.write([scalar_value("lr_find/learning_rate", rate), scalar_value("lr_find/loss", loss),
                          scalar_value("lr_find/smoothed_loss", smoothed)], step)
        if picture is not None:
            writer.write([image_summary("lr_find/loss_vs_rate", picture)], len(result.rates))
