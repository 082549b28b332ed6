"""A search's processes on this machine: workers on devices of their own, restarts, a dead chief, and their limits.

Every process is real and is killed with a real SIGKILL; each test checks that the fault fired when it meant it to
(mid-trial), and that no process outlives the search.
"""

import json
import logging
import os
import re
import signal
import threading
import time

import keras
import numpy as np
import pytest
from helpers import alive, popen, read_run

from polykeras import search
from polykeras.errors import RunError

POLY_ARGS = ["tune", "poly", "--max-epochs", "4", "--seed", "3"]
# Process handling: once, in the PyTorch pass, whose processes start without compiling anything.
pytestmark = [pytest.mark.any_backend("torch"), pytest.mark.timeout(300)]


def _pids(out):
    """`{process: [pid, ...]}` in the order the launcher started them."""
    pids = {}
    for name, pid in re.findall(r"^(chief|tuner\d+): pid (\d+)", out, re.M):
        pids.setdefault(name, []).append(int(pid))
    return pids


def _trainers(board):
    """`{trial_id: [pid, ...]}`: the processes whose event files a trial's training wrote (<t>.<host>.<pid>)."""
    out = {}
    for trial in os.listdir(board) if os.path.isdir(board) else []:
        train = os.path.join(board, trial, "execution0", "train")
        if os.path.isdir(train):
            out[trial] = sorted(int(name.rsplit(".", 2)[1]) for name in os.listdir(train))
    return out


def _saved_oracle(project):
    try:
        with open(os.path.join(project, "oracle.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _trial_status(project, trial_id):
    try:
        with open(os.path.join(project, f"trial_{trial_id}", "trial.json")) as f:
            return json.load(f)["status"]
    except (OSError, ValueError, KeyError):
        return None


def test_a_users_model_is_searched_by_two_workers_each_on_its_own_device(tmp_path, monkeypatch, caplog):
    """A compiled model of the user's, two workers: both train, each trial at its own rate, each on its own device."""
    monkeypatch.chdir(tmp_path)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)], name="mine"
    )
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.5), loss="mse")
    x = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
    with caplog.at_level(logging.INFO, logger="polykeras"):
        result = search(
            model,
            x,
            x @ np.array([[1.0], [2.0], [3.0]], "float32"),
            tuner="grid",
            max_trials=4,
            max_epochs=2,
            lr_range=(1e-3, 1e-2),
            batch_size=20,
            workers=2,
            devices=["0", "1"],
        )
    assert sorted(t["status"] for t in result.trials) == ["COMPLETED"] * 4
    logged = "\n".join(caplog.messages)
    pids = _pids(logged)
    assert {name: len(p) for name, p in pids.items()} == {"chief": 1, "tuner0": 1, "tuner1": 1}
    assert f"tuner0: pid {pids['tuner0'][0]} (CUDA_VISIBLE_DEVICES='0')" in logged
    assert f"tuner1: pid {pids['tuner1'][0]} (CUDA_VISIBLE_DEVICES='1')" in logged
    logs = tmp_path / "logs" / "tune" / "mine" / "processes"
    # Each process saw the device it was given: the chief none, each worker its own (as JAX, PyTorch and
    # TensorFlow read CUDA_VISIBLE_DEVICES).
    for name, device in (("chief", ""), ("tuner0", "0"), ("tuner1", "1")):
        assert (
            f"{name} (pid {pids[name][0]}) sees devices: CUDA_VISIBLE_DEVICES={device}\n"
            in (logs / f"{name}.log").read_text()
        )
    trainers = _trainers(result.log_dir)
    assert {pid for trial in trainers.values() for pid in trial} == {pids["tuner0"][0], pids["tuner1"][0]}
    for trial in result.trials:  # trained at its own rate: what Keras logged as the learning rate is the trial's
        logged = read_run(os.path.join(result.log_dir, trial["trial_id"], "execution0", "train"))["epoch_learning_rate"]
        assert float(logged[-1][1]) == pytest.approx(trial["hyperparameters"]["learning_rate"], rel=1e-6)
    assert not any(alive(pid) for p in pids.values() for pid in p), "a process outlived the search"


class _Output:
    """The launcher's output, read as it comes by a thread of its own (so the test never blocks on it)."""

    def __init__(self, process):
        self.lines = []
        self._thread = threading.Thread(
            target=lambda: self.lines.extend(iter(process.stdout.readline, "")), daemon=True
        )
        self._thread.start()

    def text(self):
        return "".join(self.lines)

    def rest(self):
        self._thread.join(timeout=60)
        return self.text()


def test_a_worker_and_then_the_chief_killed_mid_trial_and_every_trial_runs_once(tmp_path):
    """tuner0 SIGKILLed while it trains the trial it holds: restarted, it finishes that trial. Then the chief,
    killed while a worker trains: restarted on the same port, it keeps the workers' trials, and every other
    trial is trained by one process in one go."""
    args = [
        *POLY_ARGS,
        "--tuner",
        "random",
        "--max-trials",
        "5",
        "--max-epochs",
        "60",
        "--workers",
        "2",
        "--json",
        "k.json",
    ]
    project, board = tmp_path / "logs" / "tune" / "poly", tmp_path / "logs" / "tune" / "poly" / "tensorboard"
    launcher = popen(*args, cwd=tmp_path)
    output = _Output(launcher)
    try:

        def wait_for(condition, what):
            deadline = time.monotonic() + 180
            while not condition():
                assert launcher.poll() is None and time.monotonic() < deadline, f"{what} never came: {output.text()}"
                time.sleep(0.05)

        wait_for(lambda: len(_pids(output.text())) == 3, "the three processes")
        pids = _pids(output.text())

        def held():  # the trial the chief's oracle saved as tuner0's, once tuner0 trains it (its events are on disk)
            trial = _saved_oracle(project).get("ongoing_trials", {}).get("tuner0")
            trained = pids["tuner0"][0] in _trainers(board).get(trial, [])
            return trial if trained and _trial_status(project, trial) == "RUNNING" else None

        wait_for(held, "tuner0 training a trial")
        victim = held()
        os.kill(pids["tuner0"][0], signal.SIGKILL)
        wait_for(lambda: len(_pids(output.text())["tuner0"]) == 2, "tuner0's restart")
        # Then the chief, while a worker trains a trial and trials remain unstarted.
        wait_for(
            lambda: any(_trial_status(project, t) == "RUNNING" for t in _trainers(board)) and len(_trainers(board)) < 5,
            "a trial in training",
        )
        os.kill(pids["chief"][0], signal.SIGKILL)
        launcher.wait(timeout=240)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    out = output.rest()
    assert launcher.returncode == 0, out
    assert "tuner0 exited with code -9; starting it again as tuner0" in out
    assert "chief exited with code -9; starting it again on port" in out  # the two faults fired
    every = _pids(out)
    assert len(every["tuner0"]) == 2 and len(every["chief"]) == 2
    trials = json.loads((tmp_path / "k.json").read_text())["trials"]
    assert sorted(t["trial_id"] for t in trials) == [str(i) for i in range(5)]
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert re.findall(r"^trial \d+ \((\d+) of 5 done\)", out, re.M) == [str(k) for k in range(1, 6)]  # each once
    trainers = _trainers(board)
    # The held trial: begun by the killed tuner0 and finished by the restarted one, and by no one else.
    assert trainers[victim] == sorted(every["tuner0"])
    # Every other trial: one process, in one go (the chief's death made no worker train a trial twice).
    assert all(len(pids_) == 1 for trial, pids_ in trainers.items() if trial != victim), trainers
    assert not any(alive(pid, tmp_path) for p in every.values() for pid in p), "a process outlived the search"


def test_a_chief_that_dies_four_times_stops_the_search_with_exit_1(tmp_path):
    launcher = popen(
        *POLY_ARGS, "--tuner", "random", "--max-trials", "6", "--max-epochs", "400", "--workers", "1", cwd=tmp_path
    )
    lines, chiefs = [], []
    try:

        def next_chief():
            # The first chief once it listens (the launcher has started the worker then); each restarted one as
            # soon as the launcher starts it.
            while len(_pids("".join(lines)).get("chief", [])) <= len(chiefs) or "tuner0" not in _pids("".join(lines)):
                line = launcher.stdout.readline()
                assert line, "".join(lines)
                lines.append(line)
            return _pids("".join(lines))["chief"][len(chiefs)]

        for _ in range(4):
            chiefs.append(next_chief())
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
    assert not any(alive(pid, tmp_path) for p in _pids(out).values() for pid in p), "a process outlived the search"


def test_a_worker_that_keeps_dying_stops_the_search_after_three_restarts(tmp_path, monkeypatch, caplog):
    """Each worker process exits with code 3 as it starts (a `sitecustomize` of the test's, which Python runs at
    start): it is started again three times, and the fourth death stops the search."""
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('KERASTUNER_TUNER_ID', '').startswith('tuner'):\n    os._exit(3)\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fault), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="polykeras"), pytest.raises(RunError) as caught:
        search("poly", tuner="random", max_trials=2, max_epochs=2, workers=1)
    assert re.match(
        r"tuner0 failed 4 times \(last exit code 3\); search stopped, see .*processes/tuner0\.log$", str(caught.value)
    ), caught.value
    logged = "\n".join(caplog.messages)
    pids = _pids(logged)
    assert len(pids["tuner0"]) == 4 and logged.count("tuner0 exited with code 3; starting it again") == 3
    assert not any(alive(pid) for p in pids.values() for pid in p), "a process outlived the search"


def test_workers_take_the_visible_devices_in_turn_and_the_chief_none(monkeypatch):
    from polykeras.search.supervisor import device_environment, visible_accelerators

    assert device_environment(["0", "1"], 3) == {
        "chief": {"CUDA_VISIBLE_DEVICES": ""},
        "tuner0": {"CUDA_VISIBLE_DEVICES": "0"},
        "tuner1": {"CUDA_VISIBLE_DEVICES": "1"},
        "tuner2": {"CUDA_VISIBLE_DEVICES": "0"},  # round robin: two workers share device 0
    }
    assert device_environment([], 2) == {}  # no devices: every process sees what the launcher sees
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 5,")
    assert visible_accelerators() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")  # hides every GPU, as CUDA reads it
    assert visible_accelerators() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    gpus = os.listdir("/proc/driver/nvidia/gpus") if os.path.isdir("/proc/driver/nvidia/gpus") else []
    assert visible_accelerators() == [str(k) for k in range(len(gpus))]


def test_a_launcher_killed_by_sigkill_leaves_no_process_behind(tmp_path):
    """The launcher gets no chance to stop anything: the kernel kills its chief and workers (die_with_parent)."""
    launcher = popen(
        *POLY_ARGS, "--tuner", "random", "--max-trials", "6", "--max-epochs", "400", "--workers", "2", cwd=tmp_path
    )
    output, pids = _Output(launcher), {}
    try:
        deadline = time.monotonic() + 180
        while len(pids) < 3 or not all(alive(p[0]) for p in pids.values()):
            assert launcher.poll() is None and time.monotonic() < deadline, output.text()
            time.sleep(0.05)
            pids = _pids(output.text())
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(alive(p[0]) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = {name: p[0] for name, p in pids.items() if alive(p[0])}
    finally:
        launcher.kill()
        launcher.wait()
        for p in pids.values():  # a test that fails leaves nothing behind either
            if alive(p[0], tmp_path):
                os.kill(p[0], signal.SIGKILL)
    assert launcher.returncode == -signal.SIGKILL
    assert survivors == {}, f"outlived the launcher: {survivors}"
