"""KerasTuner's distributed mode: a chief and workers on 127.0.0.1, restarts, a dead chief, and the library call."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import alive, popen

POLY_ARGS = ["tune", "poly", "--max-epochs", "4", "--seed", "3"]
# The timeouts are 3-5 times what each test takes on 2 cores (38-96 s): a launcher that lives on without
# printing would block _read_pids forever, and a hang must fail the test, not hang CI.



def _worker_pids(out):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(chief|tuner\d+): pid (\d+)$", out, re.M)}


def _read_pids(launcher, count, lines):
    """Reads the launcher's output (kept in `lines`) until `count` processes have printed their PIDs."""
    pids = {}
    while len(pids) < count:
        line = launcher.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
        pids.update(_worker_pids(line))
    return pids


def _trial_pids(board):
    """{trial_id: pid of the process that trained it}, from the event file names (…tfevents.<t>.<host>.<pid>…)."""
    out = {}
    for trial in os.listdir(board):
        train = os.path.join(board, trial, "execution0", "train")
        if os.path.isdir(train):
            name = os.listdir(train)[0]
            out[trial] = int(name.rsplit(".", 2)[1])  # the host name may hold dots
    return out


def _search_killing(tmp_path, args, victim, ready):
    """Runs `polykeras ARGS` with two workers and SIGKILLs `victim` once `ready(pids that trained, pids)` holds.

    Returns:
        `(exit code, output, {process: pid})`.
    """
    launcher = popen(*args, cwd=tmp_path)
    lines = []
    try:
        pids = _read_pids(launcher, 3, lines)
        board = tmp_path / "logs" / "tune" / "poly" / "tensorboard"
        deadline = time.monotonic() + 120
        while not ready(set(_trial_pids(board).values()) if board.exists() else set(), pids):
            assert time.monotonic() < deadline, "the moment to kill never came: the fault would not fire"
            time.sleep(0.05)
        os.kill(pids[victim], signal.SIGKILL)
        out, _ = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    return launcher.returncode, "".join(lines) + out, pids


@pytest.mark.any_backend("jax")
@pytest.mark.timeout(300)
def test_two_workers_share_the_search(tmp_path):
    done = popen(*POLY_ARGS, "--tuner", "random", "--max-trials", "4", "--workers", "2", "--json", "d.json",
                 cwd=tmp_path)
    out, _ = done.communicate(timeout=300)
    assert done.returncode == 0, out
    pids = _worker_pids(out)
    assert set(pids) == {"chief", "tuner0", "tuner1"}
    trials = json.loads((tmp_path / "d.json").read_text())["trials"]
    assert sorted(t["trial_id"] for t in trials) == [f"{i}" for i in range(4)]
    assert all(t["status"] == "COMPLETED" for t in trials)
    used = set(_trial_pids(tmp_path / "logs" / "tune" / "poly" / "tensorboard").values())
    assert used == {pids["tuner0"], pids["tuner1"]}
    assert not any(alive(pid, tmp_path) for pid in pids.values())


@pytest.mark.any_backend("jax")
@pytest.mark.timeout(300)
def test_a_killed_worker_is_restarted_and_the_search_completes(tmp_path):
    args = [*POLY_ARGS, "--tuner", "random", "--max-trials", "4", "--max-epochs", "40", "--workers", "2",
            "--json", "k.json"]
    # Once tuner0 trains (its events are on disk).
    code, out, pids = _search_killing(tmp_path, args, "tuner0", lambda trainers, pids: pids["tuner0"] in trainers)
    assert code == 0, out
    assert "tuner0 exited with code -9; starting it again as tuner0" in out
    restarted = [int(m.group(1)) for m in re.finditer(r"^tuner0: pid (\d+)$", out, re.M)]
    assert len(restarted) == 2
    trials = json.loads((tmp_path / "k.json").read_text())["trials"]
    assert sorted(t["trial_id"] for t in trials) == [f"{i}" for i in range(4)]
    assert all(t["status"] == "COMPLETED" for t in trials)
    every_pid = [int(m.group(2)) for m in re.finditer(r"^(chief|tuner\d+): pid (\d+)$", out, re.M)]
    assert not any(alive(pid, tmp_path) for pid in every_pid), "a process outlived the search"


def _event_files(board):
    """{trial_id: number of event files its training wrote}: one per process that trained it."""
    return {trial: len(os.listdir(board / trial / "execution0" / "train")) for trial in os.listdir(board)
            if (board / trial / "execution0" / "train").is_dir()}


@pytest.mark.any_backend("jax")
@pytest.mark.timeout(300)
def test_a_killed_chief_is_restarted_and_every_trial_runs_once(tmp_path):
    args = [*POLY_ARGS, "--tuner", "random", "--max-trials", "4", "--max-epochs", "40", "--workers", "2",
            "--json", "c.json"]
    # Mid-trial: once a worker trains (its events are on disk), before the search can end.
    code, out, pids = _search_killing(tmp_path, args, "chief", lambda trainers, pids: trainers)
    assert code == 0, out
    assert "chief exited with code -9; starting it again on port" in out  # the fault fired
    chiefs = [int(m.group(1)) for m in re.finditer(r"^chief: pid (\d+)$", out, re.M)]
    assert len(chiefs) == 2 and chiefs[0] == pids["chief"]
    # Every trial once: four completed, each reported once, each trained by one process in one go.
    trials = json.loads((tmp_path / "c.json").read_text())["trials"]
    assert sorted(t["trial_id"] for t in trials) == [f"{i}" for i in range(4)]
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert re.findall(r"^trial (\d+)/4 ", out, re.M) == [str(k) for k in range(1, 5)]
    assert _event_files(tmp_path / "logs" / "tune" / "poly" / "tensorboard") == {f"{i}": 1 for i in range(4)}
    every_pid = [*chiefs, *_worker_pids(out).values()]
    assert not any(alive(pid, tmp_path) for pid in every_pid), "a process outlived the search"


@pytest.mark.any_backend("jax")  # process handling: once, in the JAX pass, whose processes start faster
@pytest.mark.timeout(180)
def test_a_chief_that_dies_four_times_stops_the_search_with_exit_1(tmp_path):
    launcher = popen(*POLY_ARGS, "--tuner", "random", "--max-trials", "6", "--max-epochs", "400", "--workers", "1",
                     cwd=tmp_path)
    lines, chiefs = [], []
    try:
        pids = _read_pids(launcher, 2, lines)
        chiefs.append(pids["chief"])
        os.kill(pids["chief"], signal.SIGKILL)
        for _ in range(3):  # each restarted chief, killed as soon as it listens again
            chiefs.append(_read_pids(launcher, 1, lines)["chief"])
            os.kill(chiefs[-1], signal.SIGKILL)
        out, _ = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    out = "".join(lines) + out
    assert launcher.returncode == 1, out
    assert len(set(chiefs)) == 4 and out.count("chief exited with code -9; starting it again") == 3
    assert out.rstrip().splitlines()[-1].startswith("error: the chief failed 4 times (last exit code -9); ")
    assert not any(alive(pid, tmp_path) for pid in [*chiefs, pids["tuner0"]]), "a process outlived the search"


@pytest.mark.any_backend
@pytest.mark.timeout(300)
def test_a_chief_and_a_worker_started_with_kerastuners_variables_finish_the_search(tmp_path):
    """The multi-machine use of scripts/tune_learning_rate.py, on 127.0.0.1: a chief, then worker tuner0."""
    from polykeras.distributed import free_port

    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": str(port)}
    args = [sys.executable, "-m", "polykeras_cli", *POLY_ARGS, "--tuner", "random", "--max-trials", "2",
            "--max-epochs", "1"]
    processes = {}
    try:
        for role in ("chief", "tuner0"):
            processes[role] = subprocess.Popen(args, cwd=tmp_path, env={**env, "KERASTUNER_TUNER_ID": role},
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = {role: p.communicate(timeout=240)[0] for role, p in processes.items()}
    finally:
        _stop_all(processes)
    assert processes["tuner0"].returncode == 0, out["tuner0"]
    assert processes["chief"].returncode == 0, out["chief"]
    # The worker reports each trial it ran, numbered by the chief's finished trials.
    assert re.findall(r"^trial (\d)/2 ", out["tuner0"], re.M) == ["1", "2"]
    assert re.search(r"^best: \{'learning_rate': ", out["chief"], re.M)
    trials = [json.loads(p.read_text()) for p in (tmp_path / "logs" / "tune" / "poly").glob("trial_*/trial.json")]
    assert sorted(t["status"] for t in trials) == ["COMPLETED", "COMPLETED"]


def _stop_all(processes):
    """Kills, by PID, each of `{role: Popen}` still running."""
    for p in processes.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def _chief_and_worker(tmp_path, chief_timeout, *extra):
    """Starts `tune poly` as a chief and as worker tuner0 through KerasTuner's variables; returns (processes, start)."""
    from polykeras.distributed import free_port

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": str(free_port())}
    args = [sys.executable, "-m", "polykeras_cli", *POLY_ARGS, "--tuner", "random", "--max-trials", "2",
            "--max-epochs", "100", "--chief-timeout", str(chief_timeout), *extra]

    def start(role):
        return subprocess.Popen(args, cwd=tmp_path, env={**env, "KERASTUNER_TUNER_ID": role},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    return {role: start(role) for role in ("chief", "tuner0")}, start


def _kill_worker_in_its_first_trial(tmp_path, worker):
    trial = tmp_path / "logs" / "tune" / "poly" / "trial_0" / "trial.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (trial.exists() and (tmp_path / "logs" / "tune" / "poly" / "tensorboard"
                                                                   / "0").exists()):
        time.sleep(0.05)
    assert json.loads(trial.read_text())["status"] == "RUNNING"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL


@pytest.mark.any_backend("jax")
@pytest.mark.timeout(300)
def test_a_chief_whose_workers_all_died_names_the_open_trials_and_exits_1(tmp_path):
    """keras-tuner#915: KerasTuner's chief waits forever; this one stops after --chief-timeout seconds without a call."""
    processes, _ = _chief_and_worker(tmp_path, 6)
    try:
        _kill_worker_in_its_first_trial(tmp_path, processes["tuner0"])
        killed = time.monotonic()
        out = processes["chief"].communicate(timeout=120)[0]
        waited = time.monotonic() - killed
    finally:
        _stop_all(processes)
    assert processes["chief"].returncode == 1, out
    assert out.rstrip().splitlines()[-1] == (
        "error: no worker called the chief for 6 s and the search is unfinished (open trials: 0 (tuner0)); the "
        "chief stops. Start the workers again with the same KERASTUNER_TUNER_ID, and the chief, to resume.")
    assert 3 <= waited <= 60  # the timeout counts from the worker's last call, not from the kill


@pytest.mark.any_backend("jax")
@pytest.mark.timeout(300)
def test_a_worker_that_comes_back_before_the_chief_timeout_resumes_its_trial(tmp_path):
    processes, start = _chief_and_worker(tmp_path, 120)
    try:
        _kill_worker_in_its_first_trial(tmp_path, processes["tuner0"])
        processes["tuner0"] = start("tuner0")
        out = {role: p.communicate(timeout=240)[0] for role, p in processes.items()}
    finally:
        _stop_all(processes)
    assert processes["tuner0"].returncode == 0 and processes["chief"].returncode == 0, out
    trials = [json.loads(p.read_text()) for p in (tmp_path / "logs" / "tune" / "poly").glob("trial_*/trial.json")]
    assert sorted((t["trial_id"], t["status"]) for t in trials) == [("0", "COMPLETED"), ("1", "COMPLETED")]


USERS_SCRIPT = '''
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
    result = polykeras.search(Widths(), x, x @ np.array([1.0, 2.0, 3.0], "float32"), tuner="random", max_trials=4,
                              max_epochs=1, workers=2, directory="logs/tune")
    print("statuses", sorted(t["status"] for t in result.trials))
    print("spaces", sorted({tuple(sorted(t["hyperparameters"])) for t in result.trials}))
'''


@pytest.mark.any_backend("jax")
@pytest.mark.timeout(300)
def test_a_scripts_hypermodel_is_searched_by_two_workers(tmp_path):
    """A HyperModel defined in the user's script reaches the workers pickled; they import the script as __mp_main__."""
    (tmp_path / "widths.py").write_text(USERS_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "widths.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "statuses ['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']" in done.stdout
    assert "spaces [('learning_rate', 'units')]" in done.stdout
    project = tmp_path / "logs" / "tune" / "Widths"
    pids = _worker_pids(done.stderr + done.stdout)
    assert set(_trial_pids(project / "tensorboard").values()) == {pids["tuner0"], pids["tuner1"]}
    for worker in ("tuner0", "tuner1"):  # the script ran in each worker without its __main__ block
        log = (project / "processes" / f"{worker}.log").read_text()
        assert "imported as __mp_main__" in log and "statuses" not in log
    assert not any(alive(pid, tmp_path) for pid in pids.values())


@pytest.mark.any_backend
def test_a_hypermodel_workers_cannot_import_is_refused_before_any_process_starts(tmp_path):
    import keras
    import numpy as np

    import polykeras
    from polykeras.errors import InvalidArgumentError

    def build(hp):  # local: pickle cannot name it, so no worker could load it
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    x = np.zeros((20, 1), "float32")
    with pytest.raises(InvalidArgumentError, match="workers need the hypermodel pickled, which failed") as caught:
        polykeras.search(build, x, x, tuner="random", max_trials=2, max_epochs=1, workers=2,
                         directory=str(tmp_path))
    assert caught.value.parameter == "task"
    assert not (tmp_path / "build" / "processes").exists()  # no chief or worker was started
