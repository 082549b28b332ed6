"""Starting, following and stopping the processes of a search on this machine: a chief and N workers on 127.0.0.1.

`supervise` starts the chief (`python -m polykeras.search SPEC` with
KerasTuner's variables), waits for its oracle to listen, starts the workers,
and then, until they are done:

- reports each trial the chief's oracle saves as finished (`TrialFollower`);
- starts a worker that died (even by SIGKILL) again under the same tuner id,
  so the oracle hands it back its unfinished trial, up to
  `MAX_WORKER_RESTARTS` times; a worker that refuses its input (exit code 2)
  is not started again;
- starts a chief that died again on the same port: its oracle reloads from
  disk, and the workers' calls wait for it or are made again;
- gives each worker its own accelerator (`devices`, round robin), and the
  chief none.

Every process it starts it stops by its PID before returning or raising, and
each dies with it (Linux's parent-death signal, asked for by
`die_with_parent.py` before it becomes the chief or a worker), so a launcher
killed even by SIGKILL leaves no chief waiting for workers that will never come. What it
starts and restarts goes to the `polykeras.search.supervisor` logger at INFO;
each process writes to `<project>/processes/<id>.log`.
"""

import glob
import logging
import os
import socket
import subprocess
import sys
import time

from polykeras import backend
from polykeras.errors import InvalidArgumentError, RunError
from polykeras.search.progress import TrialFollower

# A worker or the chief that dies is started again this many times; the next death stops the search.
MAX_WORKER_RESTARTS = 3
MAX_CHIEF_RESTARTS = 3
CHIEF_START_SECONDS = 120
POLL_SECONDS = 0.2
DIE_WITH_PARENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "die_with_parent.py")
logger = logging.getLogger(__name__)


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_port_free(port):
    """Raises `InvalidArgumentError` when `port` on 127.0.0.1 is taken."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise InvalidArgumentError(f"port is in use. Received: port={port!r}", "port") from None


def visible_accelerators():
    """The CUDA devices this process may use, as `CUDA_VISIBLE_DEVICES` names them: its own list when it is set,
    else one per GPU the NVIDIA driver shows (`/proc/driver/nvidia/gpus`); none on a machine without.

    Read without loading a backend: JAX would claim most of every GPU's memory for the launcher.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    return [str(k) for k in range(len(glob.glob("/proc/driver/nvidia/gpus/*")))]


def device_environment(devices, workers):
    """`{process id: extra environment}`: worker k sees `devices[k % len]` alone, the chief none (with devices)."""
    if not devices:
        return {}
    chosen = {f"tuner{k}": {"CUDA_VISIBLE_DEVICES": str(devices[k % len(devices)])} for k in range(workers)}
    return {"chief": {"CUDA_VISIBLE_DEVICES": ""}, **chosen}


class Processes:
    """The chief and workers of one search, each logging to `<project>/processes/<id>.log`.

    Args:
        spec_path: The search's spec, which every process loads.
        logs: The folder of the processes' logs.
        port: The chief's port.
        devices: `{process id: extra environment}` (`device_environment`).
    """

    def __init__(self, spec_path, logs, port, devices):
        # Each process asks to die with this one, then becomes `python -m polykeras.search SPEC` (same PID).
        self.command = [
            sys.executable,
            "-I",
            DIE_WITH_PARENT,
            str(os.getpid()),
            sys.executable,
            "-m",
            "polykeras.search",
            spec_path,
        ]
        self.env = {
            **os.environ,
            # This process's backend, whatever the variable says now: the chief and workers load the search
            # prepared here, and the space it describes (the optimizer's class among it) is the backend's.
            "KERAS_BACKEND": backend.name(),
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        self.logs, self.devices = logs, devices
        os.makedirs(self.logs, exist_ok=True)
        self.running = {}
        self.started = []

    def start(self, tuner_id):
        env = {**self.env, **self.devices.get(tuner_id, {}), "KERASTUNER_TUNER_ID": tuner_id}
        with open(os.path.join(self.logs, f"{tuner_id}.log"), "a", encoding="utf-8") as log:
            process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.running[tuner_id] = process
        self.started.append(process)
        device = self.devices.get(tuner_id, {}).get("CUDA_VISIBLE_DEVICES")
        logger.info(
            "%s: pid %d%s", tuner_id, process.pid, "" if device is None else f" (CUDA_VISIBLE_DEVICES={device!r})"
        )
        return process

    def last_line(self, tuner_id):
        """The last line `tuner_id` wrote to its log (its `error:` line, when it refused its input)."""
        with open(os.path.join(self.logs, f"{tuner_id}.log"), encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1] if lines else ""

    def stop_all(self):
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


def _start_chief(processes, port):
    """Starts the chief; returns its process once its oracle listens on `port` or it has exited."""
    chief = processes.start("chief")
    deadline = time.monotonic() + CHIEF_START_SECONDS
    while True:
        if chief.poll() is not None:
            return chief
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return chief
        if time.monotonic() > deadline:
            raise RunError(f"the chief did not listen on 127.0.0.1:{port} within {CHIEF_START_SECONDS} s")
        time.sleep(POLL_SECONDS)


def supervise(spec_path, spec, workers, *, port=0, devices=None, total=None, objective=None, on_trial_end=None):
    """Runs the search of `spec_path` as a chief and `workers` workers on 127.0.0.1, until they are done.

    Args:
        spec_path: The saved `SearchSpec` (`polykeras.search.shared.share`).
        spec: That spec.
        workers: Number of worker processes.
        port: The chief's port (0: a free one).
        devices: The accelerators to give the workers, round robin (CUDA
            device ids); None for every one this machine shows; empty for none.
        total: The planned number of trials, for `on_trial_end`.
        objective: The search's `keras_tuner.Objective`, for `on_trial_end`.
        on_trial_end: Called with a dict for each trial the oracle saves as finished.

    Returns:
        The seconds the processes ran.

    Raises:
        InvalidArgumentError: when `port` is taken.
        RunError: when the chief does not listen, a process refuses its input,
            the chief dies more than `MAX_CHIEF_RESTARTS` times or a worker more
            than `MAX_WORKER_RESTARTS` times.
    """
    port = port or free_port()
    check_port_free(port)
    devices = visible_accelerators() if devices is None else list(devices)
    processes = Processes(
        spec_path, os.path.join(spec.project, "processes"), port, device_environment(devices, workers)
    )
    logs = processes.logs
    follower = TrialFollower(spec.project, total, objective, on_trial_end)
    start = time.perf_counter()
    try:
        chief = _start_chief(processes, port)
        if chief.returncode is not None:
            raise RunError(
                f"the chief exited with code {chief.returncode}: {processes.last_line('chief')}; see {logs}/chief.log"
            )
        worker_ids = [f"tuner{i}" for i in range(workers)]
        restarts = dict.fromkeys(["chief", *worker_ids], 0)

        def count_restart(name, code, limit, where, meanwhile):
            """Counts a death of `name`: raises `RunError` once it has been restarted `limit` times, else says so."""
            who = "the chief" if name == "chief" else name
            if code == 2:  # bad input: starting it again would not change it
                raise RunError(f"{who} refused its input: {processes.last_line(name)}")
            if restarts[name] == limit:
                raise RunError(
                    f"{who} failed {limit + 1} times (last exit code {code}); search stopped, see {logs}/{name}.log"
                )
            restarts[name] += 1
            logger.info(
                "%s exited with code %s; starting it again %s (restart %d of %d), %s",
                name,
                code,
                where,
                restarts[name],
                limit,
                meanwhile,
            )

        for tuner_id in worker_ids:
            processes.start(tuner_id)
        logger.info(
            "the chief listens on 127.0.0.1:%d; %d workers start (each loads Keras, then asks it for trials: "
            "the first finished trial is reported when it ends)",
            port,
            workers,
        )
        finished = set()
        while len(finished) < len(worker_ids):
            time.sleep(POLL_SECONDS)
            follower.poll()
            code = chief.poll()
            if code is not None and code != 0:
                count_restart("chief", code, MAX_CHIEF_RESTARTS, f"on port {port}", "the workers wait for it")
                chief = _start_chief(processes, port)
            for tuner_id in worker_ids:
                code = processes.running[tuner_id].poll()
                if code is None or tuner_id in finished:
                    continue
                if code == 0:
                    finished.add(tuner_id)
                else:
                    count_restart(tuner_id, code, MAX_WORKER_RESTARTS, f"as {tuner_id}", "its trial continues")
                    processes.start(tuner_id)
        # Every trial is reported and saved by now; the chief only polls (every 30 s) before it exits.
        try:
            chief.wait(timeout=2)
        except subprocess.TimeoutExpired:
            chief.terminate()
            chief.wait(timeout=30)
        follower.poll()
    finally:
        processes.stop_all()
    logger.info("%d workers finished; process logs: %s", workers, logs)
    return time.perf_counter() - start
