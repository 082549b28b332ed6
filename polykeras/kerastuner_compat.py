"""Every use of a KerasTuner name that is not public API, in one place.

KerasTuner's public API has no seam for these, so polykeras overrides or
reads them here and nowhere else; `tests/test_kerastuner_compat.py` checks
each one against the installed KerasTuner, so that a release that renames
one fails that test rather than a search.

- `AtomicOracle` and `AtomicTuner` write `oracle.json`, each `trial.json`
  and `tuner0.json` atomically (`polykeras.atomic`): KerasTuner writes them in
  place, and a search killed mid-write left an empty `tuner0.json` that
  stopped it from resuming. They override `Oracle.save`, `Oracle._save_trial`
  and `BaseTuner.save`, and read the files' names from
  `_get_oracle_fname`, `_get_trial_dir`, `_get_tuner_fname` and
  `_is_worker`.
- `RetriesUnfinishedTrials` overrides `Oracle.reload` and edits its
  `_retry_queue`: KerasTuner's reload retrains a finished trial, or never
  finishes a started one, when the search was killed at the wrong moment.
- `HParamsOnEveryBackend` overrides `Tuner._configure_tensorboard_dir`, which
  returns early on backends other than TensorFlow, and uses
  `_get_tensorboard_dir` and `tuner_utils.convert_hyperparams_to_hparams`.
- `hyperband_trials(oracle)` counts Hyperband's trials with its
  `_get_num_brackets`, `_get_num_rounds` and `_get_size`.
- `keep_trial_running(oracle, tuner_id, trial)` gives a restarted chief's
  trial back to its worker: `ongoing_trials` and `_retry_queue`.
- `HyperbandOnItsOracle` lets `Hyperband` take an oracle of polykeras's: its
  `__init__` builds KerasTuner's own and passes it to `Tuner.__init__`.
- `reconnecting(tuner, wrap)` puts `wrap(tuner.oracle)` in place of a worker's
  oracle client (`Tuner.oracle`, which the tuner calls for every trial).
- `public_values(values)` and `epochs_of(values, max_epochs)`: a trial's
  hyperparameters without KerasTuner's own (`tuner/epochs`, `tuner/trial_id`,
  ...), and the epochs Hyperband gives it, read from those.
- `ongoing_trials(oracle)` reads which worker runs which trial; and the state
  files KerasTuner writes are read here alone: `saved_ongoing_trials` (in
  `oracle.json`) and `saved_trials` (every `trial_*/trial.json`).
"""

import glob
import json
import os

import keras_tuner
from keras_tuner.src.engine import tuner_utils
from tensorboard.plugins.hparams import summary_v2 as hparams_summary

from polykeras.atomic import write_text
from polykeras.tensorboard import EventWriter

# What the classes and functions below use, by owner: checked by tests/test_kerastuner_compat.py.
PRIVATE_NAMES = {
    keras_tuner.Oracle: (
        "save",
        "reload",
        "_save_trial",
        "_get_oracle_fname",
        "_get_trial_dir",
        "_retry_queue",
        "ongoing_trials",
    ),
    keras_tuner.Tuner: (
        "save",
        "_get_tuner_fname",
        "_is_worker",
        "_configure_tensorboard_dir",
        "_get_tensorboard_dir",
        "oracle",
    ),
    keras_tuner.Hyperband: ("__init__",),
    keras_tuner.oracles.HyperbandOracle: ("_get_num_brackets", "_get_num_rounds", "_get_size"),
    tuner_utils: ("convert_hyperparams_to_hparams",),
}


class AtomicOracle:
    """Oracle mixin: `oracle.json` and every `trial.json` are written whole or not at all."""

    def save(self):
        write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        write_text(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), json.dumps(trial.get_state()))


class RetriesUnfinishedTrials:
    """Oracle mixin: a reloaded oracle retries every unfinished trial, and no finished one.

    KerasTuner's `Oracle.reload` queues the saved `ongoing_trials` for retry.
    `end_trial` saves that map before it takes the ended trial out, so a
    search killed between one trial's end and the next trial's start trained
    the finished trial again when it resumed. And `create_trial` saves the new
    trial before the map, so a search killed between the two left that trial
    RUNNING in no queue, never to finish. This queues exactly the trials
    saved as RUNNING or INVALID (waiting for a retry), each once.
    """

    def reload(self):
        super().reload()
        unfinished = [
            trial_id
            for trial_id, trial in sorted(self.trials.items())
            if trial.status in ("RUNNING", "INVALID") and trial_id not in self._retry_queue
        ]
        self._retry_queue = [
            trial_id for trial_id in self._retry_queue if self.trials[trial_id].status in ("RUNNING", "INVALID")
        ] + unfinished


class AtomicTuner:
    """Tuner mixin: the tuner's state file (`tuner0.json`) is written whole or not at all, and so is the oracle's."""

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_text(self._get_tuner_fname(), json.dumps(self.get_state()))


class HParamsOnEveryBackend:
    """Tuner mixin: a `TensorBoard` callback logs to `<log_dir>/<trial>/execution<k>`, with the trial's HParams.

    KerasTuner does this on TensorFlow only (its `_configure_tensorboard_dir`
    returns early on other backends, because `tensorboard.plugins.hparams.api`
    imports TensorFlow); this writes the HParams with `summary_v2`, which does not.
    """

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        for callback in callbacks:
            if callback.__class__.__name__ == "TensorBoard":
                callback.log_dir = self._get_tensorboard_dir(callback.log_dir, trial.trial_id, execution)
                hparams = tuner_utils.convert_hyperparams_to_hparams(trial.hyperparameters, hparams_summary)
                with EventWriter(callback.log_dir) as writer:
                    writer.write([hparams_summary.hparams_pb(hparams, trial_id=trial.trial_id)], step=0)


def hyperband_trials(oracle):
    """How many trials a `HyperbandOracle` plans in all, its brackets counted round by round."""
    return sum(
        oracle._get_size(bracket, round_)
        for bracket in range(oracle._get_num_brackets())
        for round_ in range(oracle._get_num_rounds(bracket))
    )


class HyperbandOnItsOracle:
    """Tuner mixin for `keras_tuner.Hyperband`: it takes the oracle it is given instead of building its own.

    `Hyperband.__init__` only builds a `HyperbandOracle` from its arguments
    and passes it to `Tuner.__init__`, which this calls directly.
    """

    def __init__(self, oracle, hypermodel, **kwargs):
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def reconnecting(tuner, wrap):
    """Puts `wrap(tuner.oracle)` in place of the tuner's oracle (a worker's `OracleClient`: it asks for trials)."""
    tuner.oracle = wrap(tuner.oracle)


def ongoing_trials(oracle):
    """`{tuner id: trial}` of the trials an oracle has handed out and not seen end."""
    return dict(oracle.ongoing_trials)


def saved_ongoing_trials(oracle):
    """`{tuner id: trial id}` as the oracle last saved them (`oracle.json`); empty before its first save."""
    path = oracle._get_oracle_fname()
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("ongoing_trials", {})


def saved_trials(project_dir):
    """`{trial id: state}` of every trial KerasTuner saved in `project_dir` (`trial_*/trial.json`).

    A state is KerasTuner's `Trial.get_state()`: `trial_id`, `status`,
    `score`, and `hyperparameters` (their `values`). A file being written
    (KerasTuner's own writes are not atomic) is left out this time.
    """
    trials = {}
    for path in glob.glob(os.path.join(glob.escape(project_dir), "trial_*", "trial.json")):
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        trials[state["trial_id"]] = state
    return trials


def keep_trial_running(oracle, tuner_id, trial):
    """Marks `trial` as running on worker `tuner_id` again, and out of the queue of trials to retry."""
    oracle.ongoing_trials[tuner_id] = trial
    while trial.trial_id in oracle._retry_queue:
        oracle._retry_queue.remove(trial.trial_id)


def public_values(values):
    """A trial's hyperparameter values without KerasTuner's own (`tuner/epochs`, `tuner/trial_id`, ...)."""
    return {name: value for name, value in values.items() if not name.startswith("tuner/")}


def epochs_of(values, max_epochs):
    """`(first, last)`: the epochs a trial trains, `first` excluded (Hyperband's `tuner/initial_epoch` and
    `tuner/epochs`; 0 and `max_epochs` for the other tuners)."""
    return values.get("tuner/initial_epoch", 0), values.get("tuner/epochs", max_epochs)
