"""KerasTuner's four tuners with what polykeras adds: a working rate found by each, the space file, resumes."""

import numpy as np
import pytest

from polykeras.data import synthetic_polynomial
from polykeras.search import tuners
from polykeras.search.spec import SearchSpec
from polykeras.tasks import PolynomialTask, grid_points


def _spec(directory, tuner="random", max_trials=4, max_epochs=2, project_name="untitled_project", task=None):
    return SearchSpec(
        "poly",
        (task.options() if task else {}),
        tuner=tuner,
        max_trials=max_trials,
        max_epochs=max_epochs,
        directory=str(directory),
        project_name=project_name,
    )


@pytest.mark.any_backend("torch")  # KerasTuner's four tuners; training through them on each backend is tested below
@pytest.mark.parametrize("name", tuners.TUNERS)
def test_every_tuner_finds_a_working_rate_for_the_polynomial(tmp_path, name):
    x, y = synthetic_polynomial([1, 2, 3], samples=200)
    task = PolynomialTask(*PolynomialTask.split(x, y), grid=name == "grid")
    # The grid gets its 13 points, random and Bayesian search 6 trials; Hyperband (factor 9) over 10 epochs
    # plays two brackets, 12 trials.
    tuner = tuners.make_tuner(
        _spec(tmp_path, name, max_trials=13 if name == "grid" else 6, max_epochs=10, project_name=name), task
    )
    tuner.search(epochs=10, verbose=0)
    rows = tuners.trial_rows(tuner, 10)
    assert all(status == "COMPLETED" for *_, status in rows)
    if name == "grid":  # KerasTuner's grid over the log-stepped rate is the 13-point log grid
        tried = sorted(hp["learning_rate"] for _, hp, *_ in rows)
        np.testing.assert_allclose(tried, grid_points(1e-3, 1.0), rtol=1e-6)
    # From zero, 10 epochs at a good rate get the validation loss near the noise (0.01).
    assert rows[0][2] < 0.05, rows[0]


def test_unknown_tuner_and_changed_space(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    task = PolynomialTask(*PolynomialTask.split(x, y))
    with pytest.raises(ValueError, match="Received: tuner='annealing'"):
        tuners.make_tuner(_spec(tmp_path, "annealing"), task)
    tuners.make_tuner(_spec(tmp_path, max_trials=1), task)
    other = PolynomialTask(*PolynomialTask.split(x, y), lr_range=(1e-2, 0.5))
    advice = (
        r"changed: learning_rate\); start it again with overwrite=True, or search another project with "
        r"project_name=NAME$"
    )
    with pytest.raises(ValueError, match=advice):
        tuners.make_tuner(_spec(tmp_path, max_trials=1), other)
    tuners.make_tuner(_spec(tmp_path, max_trials=1), other, overwrite=True)


@pytest.mark.any_backend
def test_the_search_space_file_is_never_read_half_written(tmp_path):
    """Processes of one search write and read polykeras_search.json at once; a reader must see it whole."""
    import threading

    hypermodel = PolynomialTask(*PolynomialTask.split(*synthetic_polynomial([1, 2, 3])))
    tuners.save_search_space(hypermodel, str(tmp_path), "random")
    stop, failures, reads = threading.Event(), [], [0]

    def read():
        while not stop.is_set():
            try:
                tuners.check_search_space(hypermodel, str(tmp_path), False, "random")
            except Exception as e:  # a half-written file: JSONDecodeError
                failures.append(e)
            reads[0] += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3000):
            tuners.save_search_space(hypermodel, str(tmp_path), "random")
    finally:
        stop.set()
        reader.join()
    assert reads[0] > 100 and not failures, failures[:3]


@pytest.mark.any_backend
def test_a_project_searched_by_one_tuner_is_refused_to_another(tmp_path):
    from polykeras.errors import InvalidArgumentError

    task = PolynomialTask(*PolynomialTask.split(*synthetic_polynomial([1, 2, 3])))
    tuners.save_search_space(task, str(tmp_path), "hyperband")
    tuners.check_search_space(task, str(tmp_path), False, "hyperband")
    with pytest.raises(InvalidArgumentError, match=r"searched over another space \(changed: tuner\)"):
        tuners.check_search_space(task, str(tmp_path), False, "random")
    tuners.check_search_space(task, str(tmp_path), True, "random")  # overwrite starts it again
