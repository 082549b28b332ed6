"""The KerasTuner names polykeras relies on that are not public API: each must still exist, as polykeras uses it."""

import inspect
import json
import os

import keras_tuner
import pytest

from polykeras import kerastuner_compat
from polykeras.data import synthetic_polynomial
from polykeras.search import tuners
from polykeras.search.spec import SearchSpec
from polykeras.tasks import PolynomialTask

pytestmark = pytest.mark.any_backend

USES = [(owner, name) for owner, names in kerastuner_compat.PRIVATE_NAMES.items() for name in names]


@pytest.mark.parametrize("owner, name", USES, ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n in USES])
def test_every_private_name_polykeras_uses_is_still_there(owner, name):
    if name in ("_retry_queue", "ongoing_trials"):  # attributes an oracle sets in __init__
        assert f"self.{name} = " in inspect.getsource(keras_tuner.Oracle.__init__)
        return
    if owner is keras_tuner.Tuner and name == "oracle":  # set by BaseTuner.__init__, and replaced by KerasTuner too
        assert "self.oracle = " in inspect.getsource(keras_tuner.engine.base_tuner.BaseTuner.__init__)
        return
    assert hasattr(owner, name), f"KerasTuner {keras_tuner.__version__} has no {owner}.{name}"


@pytest.mark.parametrize(
    "owner, name, parameters",
    [
        (keras_tuner.Oracle, "_save_trial", ["self", "trial"]),
        (keras_tuner.Tuner, "_configure_tensorboard_dir", ["self", "callbacks", "trial", "execution"]),
        (keras_tuner.Tuner, "_get_tensorboard_dir", ["self", "logdir", "trial_id", "execution"]),
        (keras_tuner.oracles.HyperbandOracle, "_get_size", ["self", "bracket_num", "round_num"]),
        (keras_tuner.oracles.HyperbandOracle, "_get_num_rounds", ["self", "bracket_num"]),
    ],
)
def test_the_overridden_and_called_methods_keep_their_signatures(owner, name, parameters):
    assert list(inspect.signature(getattr(owner, name)).parameters) == parameters


def test_kerastuner_itself_is_not_patched_and_every_state_file_is_whole_json(tmp_path):
    import keras_tuner.src.utils

    assert keras_tuner.src.utils.save_json.__module__ == "keras_tuner.src.utils"
    x, y = synthetic_polynomial([1, 2, 3])
    tuner = tuners.make_tuner(
        SearchSpec("poly", {}, tuner="random", max_trials=2, max_epochs=2, directory=str(tmp_path), project_name="p"),
        PolynomialTask(*PolynomialTask.split(x, y)),
    )
    assert isinstance(tuner.oracle, kerastuner_compat.AtomicOracle) and isinstance(tuner, kerastuner_compat.AtomicTuner)
    tuner.search(epochs=2, verbose=0)
    written = [os.path.join(root, f) for root, _, files in os.walk(tmp_path) for f in files]
    assert not [f for f in written if ".tmp-" in f]
    for path in [f for f in written if f.endswith(".json")]:
        with open(path) as f:
            json.load(f)
    names = [os.path.basename(f) for f in written]
    assert {"oracle.json", "tuner0.json", "polykeras_search.json"} <= set(names) and names.count("trial.json") == 2


def test_hyperband_plans_the_trials_kerastuner_runs(tmp_path):
    x, y = synthetic_polynomial([1, 2, 3])
    task = PolynomialTask(*PolynomialTask.split(x, y))
    spec = SearchSpec("poly", {}, tuner="hyperband", max_epochs=9, directory=str(tmp_path))
    # Factor 9 over 9 epochs: 9 + 1 in one bracket, 2 in the other (test_search_run.py runs them).
    assert tuners.planned_trials(spec, task) == 12


def test_a_state_file_write_that_fails_leaves_the_previous_files_byte_for_byte(tmp_path, monkeypatch):
    """The fault: the rename that ends each atomic write fails (a full disk, say), after the new content is written.

    An in-place write would have replaced the old content by then; this one leaves it, and no temporary file.
    """
    x, y = synthetic_polynomial([1, 2, 3])
    spec = SearchSpec("poly", {}, tuner="random", max_trials=4, max_epochs=2, directory=str(tmp_path), project_name="p")
    tuner = tuners.make_tuner(spec, PolynomialTask(*PolynomialTask.split(x, y)))
    first = tuner.oracle.create_trial("tuner0")
    tuner.save()
    before = {p: p.read_bytes() for p in (tmp_path / "p").rglob("*.json")}
    assert {p.name for p in before} >= {"oracle.json", "tuner0.json", "trial.json"}
    failed = []

    def full_disk(source, target):
        failed.append(target)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        tuner.oracle.update_trial(first.trial_id, {"val_loss": 0.5})  # saves the trial and the oracle
    tuner.oracle.ongoing_trials.clear()  # a change of state, so that a file written in place would differ
    with pytest.raises(OSError, match="No space left"):
        tuner.oracle.save()
    with pytest.raises(OSError, match="No space left"):
        tuner.save()  # the oracle's state, then the tuner's
    monkeypatch.undo()
    assert failed  # the fault fired
    assert {p: p.read_bytes() for p in (tmp_path / "p").rglob("*.json")} == before
    assert not [p for p in (tmp_path / "p").rglob("*") if ".tmp-" in p.name]


class _Killed(BaseException):
    """The SIGKILL, as the oracle's next `save` call."""


@pytest.mark.parametrize("killed", ["after a trial ended", "between a new trial's file and the oracle's"])
def test_a_reloaded_oracle_runs_each_trial_once(tmp_path, killed):
    x, y = synthetic_polynomial([1, 2, 3])

    def tuner(overwrite):
        spec = SearchSpec(
            "poly",
            {},
            tuner="random",
            max_trials=4,
            max_epochs=2,
            directory=str(tmp_path),
            project_name="p",
            overwrite=overwrite,
        )
        return tuners.make_tuner(spec, PolynomialTask(*PolynomialTask.split(x, y)))

    searching = tuner(overwrite=True)
    searching.save()  # the tuner's state file, without which nothing reloads
    first = searching.oracle.create_trial("tuner0")
    searching.oracle.update_trial(first.trial_id, {"val_loss": 1.0})
    first.status = "COMPLETED"
    searching.oracle.end_trial(first)
    # The fault: KerasTuner saved the finished trial as still running on tuner0. A chief's oracle keeps that
    # state on disk until a worker asks for its next trial.
    assert json.loads((tmp_path / "p" / "oracle.json").read_text())["ongoing_trials"] == {"tuner0": "0"}
    if killed != "after a trial ended":

        def kill():
            raise _Killed

        searching.oracle.save = kill
        with pytest.raises(_Killed):
            searching.oracle.create_trial("tuner1")
        assert json.loads((tmp_path / "p" / "trial_1" / "trial.json").read_text())["status"] == "RUNNING"

    resumed = tuner(overwrite=False).oracle
    handed = [resumed.create_trial(tuner).trial_id for tuner in ("tuner0", "tuner1", "tuner2")]
    # KerasTuner's own reload hands out "0" again, and leaves "1" unfinished in the second case.
    assert handed == ["1", "2", "3"]
    assert resumed.get_trial("0").status == "COMPLETED"
