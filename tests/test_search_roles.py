"""The chief and the workers as KerasTuner's variables start them (a search across machines), and the watchdog."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from polykeras.search.roles import Watchdog
from polykeras.search.supervisor import free_port

POLY_ARGS = ["tune", "poly", "--max-epochs", "4", "--seed", "3"]


class _Clock:
    """Seconds that only the test moves."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Trial:
    def __init__(self, trial_id, status):
        self.trial_id, self.status = trial_id, status


class _Oracle:
    """What the watchdog reads of the chief's oracle: the last call, and the open trials."""

    def __init__(self):
        self.last_call = None
        running = _Trial("3", "RUNNING")
        self.ongoing_trials = {"tuner1": running}
        self.trials = {"2": _Trial("2", "COMPLETED"), "3": running, "4": _Trial("4", "RUNNING")}


@pytest.mark.parametrize("sigint", ["handled", "ignored"])  # ignored: a chief started in the background (`cmd &`)
def test_the_watchdog_interrupts_the_chief_when_no_call_came_for_the_timeout_by_its_clock(sigint):
    clock, oracle = _Clock(), _Oracle()
    before = signal.signal(signal.SIGINT, signal.SIG_IGN if sigint == "ignored" else signal.default_int_handler)
    try:
        _interrupted_by_the_watchdog(clock, oracle)
        assert signal.getsignal(signal.SIGINT) == (
            signal.SIG_IGN if sigint == "ignored" else signal.default_int_handler
        )
    finally:
        signal.signal(signal.SIGINT, before)


def _interrupted_by_the_watchdog(clock, oracle):
    watchdog = Watchdog(oracle, 6.0, clock=clock, poll=0.005)
    stage = None  # where the interrupt came: it must be the last stage, once the clock says the time is up
    try:
        with pytest.raises(KeyboardInterrupt):  # what `_thread.interrupt_main` raises in this, the main thread
            stage, clock.now = "a hundredth of a second early", 5.99
            time.sleep(0.2)
            stage = "after a worker's call at 5.0, a hundredth of a second early"
            oracle.last_call, clock.now = 5.0, 10.99
            time.sleep(0.2)
            stage, clock.now = "due", 11.0
            for _ in range(400):
                time.sleep(0.005)  # Python bytecode, where the interrupt is delivered
    finally:
        watchdog.stop()
    assert stage == "due", f"interrupted {stage}"
    assert watchdog.open_trials == "3 (tuner1), 4"


def _start(role, args, env, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "polykeras_cli", *args],
        cwd=cwd,
        env={**env, "KERASTUNER_TUNER_ID": role},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop_all(processes):
    """Kills, by PID, each of `{role: Popen}` still running."""
    for p in processes.values():
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.any_backend("torch")  # process handling, once: in the PyTorch pass, whose processes compile nothing
@pytest.mark.timeout(300)
def test_a_chief_and_a_worker_started_with_kerastuners_variables_time_out_and_then_finish_the_search(tmp_path):
    """keras-tuner#915: KerasTuner's chief waits forever for dead workers. This chief stops once no worker has
    called it for --chief-timeout seconds, naming the open trial; the same two commands again finish the search."""
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONUNBUFFERED": "1",
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(free_port()),
    }
    args = [*POLY_ARGS, "--tuner", "random", "--max-trials", "2", "--max-epochs", "100", "--chief-timeout", "6"]
    project = tmp_path / "logs" / "tune" / "poly"
    processes = {role: _start(role, args, env, tmp_path) for role in ("chief", "tuner0")}
    try:
        trial = project / "trial_0" / "trial.json"
        deadline = time.monotonic() + 120
        while not (trial.exists() and (project / "tensorboard" / "0").exists()):
            assert time.monotonic() < deadline and processes["tuner0"].poll() is None, "tuner0 never trained"
            time.sleep(0.05)
        assert json.loads(trial.read_text())["status"] == "RUNNING"  # mid-trial: the fault fires as meant
        processes["tuner0"].send_signal(signal.SIGKILL)
        processes["tuner0"].wait()
        out = processes["chief"].communicate(timeout=120)[0]
        assert processes["chief"].returncode == 1, out
        assert out.rstrip().splitlines()[-1] == (
            "error: no worker called the chief for 6 s and the search is unfinished (open trials: 0 (tuner0)); the "
            "chief stops. Start the workers again with the same KERASTUNER_TUNER_ID, and the chief, to resume."
        )
        # The same two commands, as the message says: the worker resumes its trial, and both trials finish.
        processes = {role: _start(role, args, env, tmp_path) for role in ("chief", "tuner0")}
        out = {role: p.communicate(timeout=240)[0] for role, p in processes.items()}
    finally:
        _stop_all(processes)
    assert processes["tuner0"].returncode == 0 and processes["chief"].returncode == 0, out
    # The worker reports each trial it finished, numbered by the chief's finished trials, of the planned total.
    assert re.findall(r"^trial \d+ \((\d) of 2 done\)", out["tuner0"], re.M) == ["1", "2"]
    assert re.search(r"^best: \{'learning_rate': ", out["chief"], re.M)
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert sorted((t["trial_id"], t["status"]) for t in trials) == [("0", "COMPLETED"), ("1", "COMPLETED")]
    assert "Reloading Tuner" not in out["chief"] + out["tuner0"]  # KerasTuner's note goes to the log's DEBUG


def test_a_reconnecting_oracle_retries_only_a_call_the_chief_could_not_answer():
    """A call under way when the chief dies fails UNAVAILABLE: it is made again; any other error is raised."""
    import grpc

    from polykeras.search.roles import ReconnectingOracle

    class Unavailable(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

    class Client:
        calls = 0

        def create_trial(self, tuner_id):
            Client.calls += 1
            if Client.calls < 3:
                raise Unavailable(grpc.StatusCode.UNAVAILABLE)
            return f"trial for {tuner_id}"

        def end_trial(self, trial):
            raise Unavailable(grpc.StatusCode.INVALID_ARGUMENT)

    oracle = ReconnectingOracle(Client(), seconds=30)
    assert oracle.create_trial("tuner0") == "trial for tuner0" and Client.calls == 3
    with pytest.raises(grpc.RpcError):
        oracle.end_trial(None)
