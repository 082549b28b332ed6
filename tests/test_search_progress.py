"""What on_trial_end is told: finished trials counted in a worker as in the chief."""

from polykeras.data import synthetic_polynomial
from polykeras.search import progress, tuners
from polykeras.search.spec import SearchSpec
from polykeras.tasks import PolynomialTask


def test_a_workers_count_of_finished_trials_leaves_out_the_running_ones(tmp_path):
    """A worker counts through KerasTuner's get_best_trials, which pads its answer with unfinished trials."""
    x, y = synthetic_polynomial([1, 2, 3])
    spec = SearchSpec("poly", {}, tuner="random", max_trials=4, directory=str(tmp_path))
    oracle = tuners.make_tuner(spec, PolynomialTask(*PolynomialTask.split(x, y))).oracle
    first = oracle.create_trial("tuner0")
    oracle.update_trial(first.trial_id, {"val_loss": 0.5})
    first.status = "COMPLETED"
    oracle.end_trial(first)
    oracle.create_trial("tuner1")  # running

    class WorkersOracle:
        """What a worker's OracleClient offers for this: the chief's get_best_trials, and no trials."""

        get_best_trials = staticmethod(oracle.get_best_trials)

    assert len(oracle.get_best_trials(4)) == 2  # the padding
    assert progress.finished_scores(WorkersOracle(), 4) == progress.finished_scores(oracle, 4) == [0.5]
