"""What a search's processes share through the project folder: a user's hypermodel pickled, and what a worker trusts."""

import importlib
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import alive

from polykeras.errors import InvalidArgumentError
from polykeras.search import shared
from polykeras.search.resolve import resolve
from polykeras.search.spec import SearchSpec

# Process handling and files: once, in the PyTorch pass, whose processes start without compiling anything.
pytestmark = pytest.mark.any_backend("torch")

USERS_SCRIPT = """
import logging

import keras
import keras_tuner
import numpy as np

import polykeras

print("imported as", __name__, flush=True)


class Widths(keras_tuner.HyperModel):
    def build(self, hp):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(hp.Choice("units", [4, 8]), activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the processes started, with their PIDs
    x = np.random.default_rng(0).normal(size=(256, 3)).astype("float32")
    result = polykeras.search(Widths(), x, x @ np.array([1.0, 2.0, 3.0], "float32"), tuner="random", max_trials=3,
                              max_epochs=1, workers=1, directory="logs/tune")
    print("statuses", sorted(t["status"] for t in result.trials))
    print("spaces", sorted({tuple(sorted(t["hyperparameters"])) for t in result.trials}))
"""


@pytest.mark.timeout(300)
def test_a_scripts_hypermodel_reaches_a_worker_pickled_and_its_script_is_imported_as_mp_main(tmp_path):
    (tmp_path / "widths.py").write_text(USERS_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "widths.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "statuses ['COMPLETED', 'COMPLETED', 'COMPLETED']" in done.stdout
    assert "spaces [('learning_rate', 'units')]" in done.stdout
    project = tmp_path / "logs" / "tune" / "Widths"
    log = (project / "processes" / "tuner0.log").read_text()
    assert "imported as __mp_main__" in log and "statuses" not in log  # the script ran without its __main__ block
    pickle = project / shared.HYPERMODEL_FILE
    assert oct(pickle.stat().st_mode & 0o777) == "0o600"  # readable by its owner alone
    pids = [int(p) for p in re.findall(r"^(?:chief|tuner\d+): pid (\d+)", done.stdout + done.stderr, re.M)]
    assert len(pids) == 2 and not any(alive(pid, tmp_path) for pid in pids)


def test_a_hypermodel_workers_cannot_import_is_refused_before_any_process_starts(tmp_path):
    import polykeras

    def build(hp):  # local: pickle cannot name it, so no worker could load it
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    x = np.zeros((20, 1), "float32")
    with pytest.raises(InvalidArgumentError, match="workers need the hypermodel pickled, which failed") as caught:
        polykeras.search(build, x, x, tuner="random", max_trials=2, max_epochs=1, workers=2, directory=str(tmp_path))
    assert caught.value.parameter == "task"
    assert not (tmp_path / "build" / "processes").exists()  # no chief or worker was started


# A module whose import leaves a mark: loading the pickle that names it runs its code.
PLANTED = """
import os

import keras

open(os.environ["PLANTED_MARK"], "a").close()


def build(hp):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model
"""


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A search's files for a hypermodel of the module `planted`: `(spec, mark)`; the mark is made by its import."""
    source, mark = tmp_path / "source", tmp_path / "imported"
    source.mkdir()
    (source / "planted.py").write_text(PLANTED)
    monkeypatch.setenv("PLANTED_MARK", str(mark))
    monkeypatch.syspath_prepend(str(source))
    sys.modules.pop("planted", None)  # imported afresh: a test before may have loaded it
    import planted as module

    x = np.zeros((10, 2), "float32")
    task = resolve(module.build, x, x[:, :1])
    spec = SearchSpec("hypermodel", task.options(), directory=str(tmp_path / "tune"), project_name="p")
    shared.share(spec, task)
    sys.modules.pop("planted")
    mark.unlink()
    yield spec, mark
    sys.modules.pop("planted", None)


@pytest.mark.timeout(120)
def test_a_worker_refuses_a_pickle_others_can_write_before_it_reads_it(planted, tmp_path):
    spec, mark = planted
    pickle = spec.file("hypermodel")
    os.chmod(pickle, 0o666)  # planted: anyone could have written it
    # The worker cannot import `planted` by name: it would load it from its file, after the pickle's check.
    env = {**os.environ, "KERASTUNER_TUNER_ID": "tuner0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "polykeras.search", os.path.join(spec.project, "polykeras_search_spec.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"error: tuner0 cannot start: the hypermodel pickle {pickle} is writable by its group or "
        f"by others (mode 0o666); loading it runs code, so it is refused: chmod go-w {pickle}\n"
    )
    assert not mark.exists()  # no code of the pickle's was loaded
    # The control: once only its owner can write it, a worker loads it, and that runs the module's code.
    os.chmod(pickle, 0o600)
    shared.load_task(spec)
    assert mark.exists()


def test_a_worker_refuses_a_module_others_can_write_before_it_imports_it(planted, tmp_path, monkeypatch):
    spec, mark = planted
    source = tmp_path / "source"
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(source)])  # as in a worker: not by name
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, "planted", raising=False)
    os.chmod(source / "planted.py", 0o666)  # the pickle is its owner's alone, but not the code it imports
    with pytest.raises(
        shared.UntrustedFile,
        match=r"the hypermodel's module .*planted\.py is writable by its group or by others \(mode 0o666\)",
    ):
        shared.load_task(spec)
    assert not mark.exists()
    os.chmod(source / "planted.py", 0o644)
    shared.load_task(spec)  # the control: its module is imported from its file, which runs it
    assert mark.exists()
    sys.modules.pop("planted", None)


def test_only_files_and_folders_of_this_user_that_nobody_else_can_write_are_trusted(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir(mode=0o755)
    path = folder / "hypermodel.pkl"
    path.write_bytes(b"")
    os.chmod(folder, 0o755)
    os.chmod(path, 0o644)
    shared.check_trusted(str(path), "the pickle")  # its owner's, and only its owner may write it
    os.chmod(path, 0o664)
    with pytest.raises(
        shared.UntrustedFile, match=r"the pickle .* is writable by its group or by others \(mode 0o664\)"
    ):
        shared.check_trusted(str(path), "the pickle")
    os.chmod(path, 0o644)
    os.chmod(folder, 0o777)  # anyone could put another file there
    with pytest.raises(shared.UntrustedFile, match=r"the folder of the pickle .* \(mode 0o777\)"):
        shared.check_trusted(str(path), "the pickle")
    os.chmod(folder, 0o1777)  # sticky, as /tmp: nobody may replace another's file
    shared.check_trusted(str(path), "the pickle")
    if os.getuid() == 0:  # root can give the file away, as a shared disk might hold another user's
        os.chown(path, 4242, -1)
        with pytest.raises(shared.UntrustedFile, match="belongs to user id 4242, not to this user"):
            shared.check_trusted(str(path), "the pickle")
