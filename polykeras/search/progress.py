"""What `search` tells `on_trial_end` about each finished trial, from the oracle or from the chief's files.

Example:

>>> import keras_tuner
>>> state = {"trial_id": "3", "status": "COMPLETED", "score": 0.5,
...          "hyperparameters": {"values": {"learning_rate": 0.01, "tuner/epochs": 3}}}
>>> trial_progress(state, [0.7, 0.5], 4, keras_tuner.Objective("val_loss", "min"), 1.0)["best_score"]
0.5
"""

import time

from polykeras import kerastuner_compat


def trial_progress(state, scores, total, objective, seconds):
    """The dict `search` passes to `on_trial_end`, from a trial's saved state (`trial.json`) and the finished scores.

    Keys: `number` (finished trials so far), `total`, `trial_id`,
    `hyperparameters`, `score`, `best_score`, `objective`, `seconds`, `status`.
    """
    number = len(scores)
    scores = [s for s in scores if s is not None]
    best = (min if objective.direction == "min" else max)(scores) if scores else None
    values = state["hyperparameters"]["values"]
    return {
        "number": number,
        "total": total,
        "trial_id": state["trial_id"],
        "hyperparameters": kerastuner_compat.public_values(values),
        "score": state.get("score"),
        "best_score": best,
        "objective": objective.name,
        "seconds": seconds,
        "status": state["status"],
    }


def finished_scores(oracle, total):
    """The scores of the search's finished trials, from its oracle or, in a worker, from the chief's.

    A worker's oracle is KerasTuner's `OracleClient`, which has no `trials`
    but forwards `get_best_trials` to the chief. That pads its answer with
    unfinished trials when fewer have finished than were asked for.
    """
    trials = oracle.trials.values() if hasattr(oracle, "trials") else oracle.get_best_trials(max(total or 0, 1000))
    return [t.score for t in trials if t.status == "COMPLETED"]


def reporter(oracle, total, objective, on_trial_end):
    """A tuner's `trial_callback(trial, seconds)` that turns each finished trial into an `on_trial_end` dict."""
    if on_trial_end is None:
        return None

    def report(trial, seconds):
        on_trial_end(trial_progress(trial.get_state(), finished_scores(oracle, total), total, objective, seconds))

    return report


class TrialFollower:
    """Reports trials as the chief's oracle saves them finished (`trial_*/trial.json`), for a launcher.

    Args:
        project_dir: The search's project folder.
        total: The planned number of trials.
        objective: The search's `keras_tuner.Objective`.
        on_trial_end: Called with `trial_progress`'s dict for each trial newly finished.
    """

    def __init__(self, project_dir, total, objective, on_trial_end):
        self.project_dir, self.total, self.objective, self.on_trial_end = project_dir, total, objective, on_trial_end
        finished = self._finished()
        self.reported = set(finished)  # trials of an earlier run of the same search
        self.scores = [state.get("score") for state in finished.values()]
        self.last = time.perf_counter()

    def _finished(self):
        return {
            trial_id: state
            for trial_id, state in kerastuner_compat.saved_trials(self.project_dir).items()
            if state.get("status") == "COMPLETED"
        }

    def poll(self):
        if self.on_trial_end is None:
            return
        for trial_id, state in sorted(self._finished().items()):
            if trial_id in self.reported:
                continue
            self.reported.add(trial_id)
            self.scores.append(state.get("score"))
            now = time.perf_counter()
            self.on_trial_end(trial_progress(state, self.scores, self.total, self.objective, now - self.last))
            self.last = now
