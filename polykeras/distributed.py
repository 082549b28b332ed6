"""KerasTuner's distributed mode on one machine: a chief and N workers on 127.0.0.1.

KerasTuner runs one search over several processes when each is started with
`KERASTUNER_TUNER_ID` (`chief` or `tuner0`, `tuner1`, ...),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`: the chief serves the
oracle, the workers ask it for trials. `run_search` starts those processes
running this module's `search` (through `python -m polykeras.distributed`),
restarts a worker that dies under the same id so the oracle hands it back its
unfinished trial, restarts a chief that dies on the same port (its oracle
reloads from disk, and the workers' calls wait for it or are made again
through `ReconnectingOracle`), reports each finished trial from the oracle's
files on disk (to `on_trial_end`; the processes it starts and restarts go to
the `polykeras.distributed` logger at INFO), and stops every process it
started by its PID.

On several machines, run the same `search` call on each with those three
variables set (the chief's address in `KERASTUNER_ORACLE_IP`).

Example:

>>> spec = {"task": "poly", "tuner": "random", "max_trials": 4, "max_epochs": 4,
...         "directory": "logs/tune", "project_name": "poly"}
>>> run_search(spec, workers=2)  # doctest: +SKIP
"""

import _thread
import glob
import importlib
import importlib.util
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
import time

import keras_tuner
import numpy as np

from polykeras import kerastuner_compat, tuning
from polykeras.checks import check_int, check_number
from polykeras.data import load_arrays, save_arrays
from polykeras.errors import InvalidArgumentError, RunError
from polykeras.hypermodels import ModelHyperModel, UsersDataHyperModel
from polykeras.saving import load_model, save_model

# A worker or the chief that dies is started again this many times; the next death stops the search.
MAX_WORKER_RESTARTS = 3
MAX_CHIEF_RESTARTS = 3
CHIEF_START_SECONDS = 120
# A chief that no worker has called for this long, with trials unfinished, stops (keras-tuner#915: it waited forever).
CHIEF_TIMEOUT_SECONDS = 1800
POLL_SECONDS = 0.2
DATA_FILE = "polykeras_data.npz"
# The processes it starts and restarts, at INFO; `polykeras tune` prints these lines, a script sees them with
# logging.basicConfig(level=logging.INFO).
logger = logging.getLogger(__name__)
MODEL_FILE = "polykeras_model.keras"
HYPERMODEL_FILE = "polykeras_hypermodel.pkl"


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


def shareable_data(task, data, project_dir):
    """Writes the task's data where every process can read it; returns `{"npz": path}`.

    A model's data are `(x, y)` and its validation part (`save_arrays`).
    """
    path = os.path.join(project_dir, DATA_FILE)
    if isinstance(task, UsersDataHyperModel):
        save_arrays(path, *task.train, validation_data=task.validation)
    elif task == "poly":
        np.savez(path, x=data[0], y=data[1])
    else:
        (x_train, y_train), (x_test, y_test) = data
        np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return {"npz": path}


def shareable_model(model, project_dir):
    """Saves a model where every process can load it (`.keras`, loaded with `safe_mode=True`); returns the path."""
    path = os.path.join(project_dir, MODEL_FILE)
    try:
        save_model(model, path)
        load_model(path)
    except Exception as e:  # a model that does not round-trip cannot reach the workers
        raise InvalidArgumentError(f"workers need the model saved and loaded as .keras (safe_mode=True), which "
                                   f"failed: {type(e).__name__}: {e}. Received: model={model.name!r}",
                                   "model") from None
    return path


def shareable_hypermodel(hypermodel, project_dir):
    """Pickles a user's `HyperModel` or `build(hp)` function where every process can load it.

    Pickle saves a class or function by its module and name, so each process
    imports that module again: from its file when it cannot import it by name,
    as `python FILE` would (a script's `__main__` is run as `__mp_main__`, as
    `multiprocessing` does, so its `if __name__ == "__main__":` block does not
    run again).

    Returns:
        `{"path": the pickle, "module": the module's name, "file": its file}`.

    Raises:
        InvalidArgumentError: when it cannot be pickled, or lives in an
            interactive session (no file to import it from).
    """
    kind = type(hypermodel) if isinstance(hypermodel, keras_tuner.HyperModel) else hypermodel
    module = sys.modules.get(kind.__module__)
    file = getattr(module, "__file__", None)
    try:
        if kind.__module__ == "__main__" and file is None:
            raise ValueError("it is defined in an interactive session; define it in a module or a script file")
        blob = pickle.dumps(hypermodel)
    except Exception as e:  # lambdas, local functions and classes, unpicklable state
        raise InvalidArgumentError(f"workers need the hypermodel pickled, which failed: {e}. Received: "
                                   f"task={hypermodel!r}", "task") from None
    path = os.path.join(project_dir, HYPERMODEL_FILE)
    with open(path, "wb") as f:
        f.write(blob)
    return {"path": path, "module": kind.__module__, "file": file and os.path.abspath(file)}


def _load_hypermodel(shared):
    """Loads the pickle `shareable_hypermodel` wrote, importing the module it refers to from its file if need be."""
    name, file = shared["module"], shared["file"]
    if file and (name == "__main__" or (name not in sys.modules and importlib.util.find_spec(name.split(".")[0]) is None)):
        sys.path.insert(0, os.path.dirname(file))
        spec = importlib.util.spec_from_file_location("__mp_main__" if name == "__main__" else name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = sys.modules[name] = module
        spec.loader.exec_module(module)
    with open(shared["path"], "rb") as f:
        return pickle.load(f)


def _load_shared(task, data):
    if task in ("model", "hypermodel"):
        x, y, validation = load_arrays(data["npz"])
        return (x, y), validation
    with np.load(data["npz"]) as arrays:
        if task == "poly":
            return arrays["x"], arrays["y"]
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


class _Processes:
    """The chief and workers of one search, each logging to `<project>/processes/<id>.log`."""

    def __init__(self, spec, port):
        self.command = [sys.executable, "-m", "polykeras.distributed", json.dumps(spec)]
        self.env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
                    "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.logs = os.path.join(spec["directory"], spec["project_name"], "processes")
        os.makedirs(self.logs, exist_ok=True)
        self.running = {}
        self.started = []

    def start(self, tuner_id):
        with open(os.path.join(self.logs, f"{tuner_id}.log"), "a", encoding="utf-8") as log:
            process = subprocess.Popen(self.command, env={**self.env, "KERASTUNER_TUNER_ID": tuner_id},
                                       stdout=log, stderr=subprocess.STDOUT)
        self.running[tuner_id] = process
        self.started.append(process)
        logger.info("%s: pid %d", tuner_id, process.pid)

    def stop_all(self):
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


class _TrialFollower:
    """Reports trials as the chief's oracle saves them finished (`trial_*/trial.json`)."""

    def __init__(self, project_dir, total, objective, on_trial_end):
        self.pattern = os.path.join(project_dir, "trial_*", "trial.json")
        self.total, self.objective, self.on_trial_end = total, objective, on_trial_end
        self.reported = set(self._finished())  # trials of an earlier run of the same search
        self.scores = [state.get("score") for state in self._finished().values()]
        self.last = time.perf_counter()

    def _finished(self):
        finished = {}
        for path in glob.glob(self.pattern):
            try:
                with open(path, encoding="utf-8") as f:
                    state = json.load(f)
            except (OSError, ValueError):  # being written
                continue
            if state.get("status") == "COMPLETED":
                finished[state["trial_id"]] = state
        return finished

    def poll(self):
        if self.on_trial_end is None:
            return
        for trial_id, state in sorted(self._finished().items()):
            if trial_id in self.reported:
                continue
            self.reported.add(trial_id)
            self.scores.append(state.get("score"))
            now = time.perf_counter()
            self.on_trial_end(tuning.trial_progress(state, self.scores, self.total, self.objective, now - self.last))
            self.last = now


def _start_chief(processes, port):
    """Starts the chief; returns its process once its oracle listens on `port` or it has exited."""
    processes.start("chief")
    chief = processes.running["chief"]
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


class ReconnectingOracle:
    """A worker's KerasTuner oracle client whose calls outlive a restart of the chief.

    A call made while the chief is down waits for it already (KerasTuner's
    client asks gRPC to wait for the channel), but a call under way when the
    chief dies fails with UNAVAILABLE, and KerasTuner would then mark the
    worker's trial as failed. Such a call is made again, and waits for the
    restarted chief, for up to `seconds`.

    Args:
        client: The tuner's `oracle` (a KerasTuner `OracleClient`).
        seconds: How long to keep retrying one call.
    """

    def __init__(self, client, seconds=CHIEF_START_SECONDS * (MAX_CHIEF_RESTARTS + 1)):
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_seconds", seconds)

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            import grpc

            deadline = time.monotonic() + self._seconds
            while True:
                try:
                    return attribute(*args, **kwargs)
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                    time.sleep(POLL_SECONDS)

        return call

    def __setattr__(self, name, value):
        setattr(self._client, name, value)


def keep_ongoing_trials(oracle):
    """Hands each worker back the trial it was running when the chief died, instead of queueing it again.

    KerasTuner's `Oracle.reload` sends every unfinished trial to its retry
    queue, for when the whole search restarts. When only the chief restarts,
    the workers are still training those trials and will report them, so a
    retry would run a trial twice. This restores the saved
    `ongoing_trials`: a live worker ends its trial as usual, and a worker
    that died too is restarted under the same id and gets its trial back.

    Args:
        oracle: A reloaded KerasTuner oracle (the chief's).
    """
    path = kerastuner_compat.oracle_file(oracle)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        saved = json.load(f).get("ongoing_trials", {})
    for tuner_id, trial_id in saved.items():
        trial = oracle.trials.get(trial_id)
        if trial is not None and trial.status == "RUNNING":
            kerastuner_compat.keep_trial_running(oracle, tuner_id, trial)


def run_search(spec, workers, port=0, total=None, objective=None, on_trial_end=None):
    """Runs `polykeras.tuning.search(**spec)` as a chief and `workers` workers on 127.0.0.1.

    Args:
        spec: The keyword arguments of `search` (JSON-serialisable; `data`
            as `shareable_data` returns it, or None).
        workers: Number of worker processes.
        port: The chief's port (0: a free one).
        total: The planned number of trials, for `on_trial_end`.
        objective: The search's `keras_tuner.Objective`, for `on_trial_end`.
        on_trial_end: Called with a dict for each trial the oracle saves as
            finished (see `polykeras.tuning.search`).

    Returns:
        The seconds the processes ran.

    Raises:
        InvalidArgumentError: when `port` is taken.
        RunError: when the chief does not listen, or dies more than
            `MAX_CHIEF_RESTARTS` times, or a worker dies more than
            `MAX_WORKER_RESTARTS` times. Every process started
            here is stopped by its PID before returning or raising.
    """
    port = port or free_port()
    check_port_free(port)
    processes = _Processes(spec, port)
    logs = processes.logs
    follower = _TrialFollower(os.path.join(spec["directory"], spec["project_name"]), total, objective, on_trial_end)
    start = time.perf_counter()
    try:
        chief = _start_chief(processes, port)
        if chief.returncode is not None:
            raise RunError(f"the chief exited with code {chief.returncode}; see {logs}/chief.log")
        worker_ids = [f"tuner{i}" for i in range(workers)]
        restarts = dict.fromkeys(["chief", *worker_ids], 0)

        def count_restart(name, code, limit, where, meanwhile):
            """Counts a death of `name`: raises `RunError` once it has been restarted `limit` times, else says so."""
            if restarts[name] == limit:
                who = "the chief" if name == "chief" else name
                raise RunError(f"{who} failed {limit + 1} times (last exit code {code}); "
                               f"search stopped, see {logs}/{name}.log")
            restarts[name] += 1
            logger.info("%s exited with code %s; starting it again %s (restart %d of %d), %s", name, code, where,
                     restarts[name], limit, meanwhile)

        for tuner_id in worker_ids:
            processes.start(tuner_id)
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
        # Every trial is reported and saved by now; the chief only polls (every 20 s) before it exits.
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


def search(task, x=None, y=None, *, workers=0, port=0, on_trial_end=None, chief_timeout=CHIEF_TIMEOUT_SECONDS,
           **options):
    """`polykeras.search`: `tuning.search`, in this process, over N worker processes, or as one of them.

    With `workers=N` the search runs as KerasTuner's distributed mode on
    127.0.0.1: a chief (the oracle) and N worker processes, restarted when
    they die (`run_search`). The user's model and data reach them through the
    project folder: a compiled model saved as `polykeras_model.keras`
    (loaded with `safe_mode=True`), a `HyperModel` or `build(hp)` function
    pickled as `polykeras_hypermodel.pkl` (`shareable_hypermodel`: its module
    is imported again in each process, so a script that defines it needs an
    `if __name__ == "__main__":` guard, as with `multiprocessing`), and the
    arrays in `polykeras_data.npz`. When
    KerasTuner's own environment variables are set (`KERASTUNER_TUNER_ID`,
    `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`), this process takes
    part as that one chief or worker instead (`take_part`), which is how a
    search spans machines: each runs the same call, with the same data.

    Args:
        task, x, y, on_trial_end, **options: As `polykeras.tuning.search`.
        workers: Worker processes on 127.0.0.1 (0: search in this process).
        port: The chief's port with `workers` (0: a free one).
        chief_timeout: Seconds a chief waits for a call from any worker
            while the search is unfinished before it stops (`take_part`).

    Returns:
        A `SearchResult`; None in a distributed worker process.
    """
    role = os.environ.get("KERASTUNER_TUNER_ID")
    if role is not None:
        return take_part(role, task, x, y, on_trial_end=on_trial_end, chief_timeout=chief_timeout, **options)
    check_int(workers, "workers", at_least=0)
    check_int(port, "port", at_least=0, at_most=65535)
    if not workers:
        return tuning.search(task, x, y, on_trial_end=on_trial_end, **options)
    start = time.perf_counter()
    setup = tuning.prepare_search(task, tuning.search_data(task, x, y), **options)
    if port:
        check_port_free(port)
    # Checks the space against the project's and clears it with `overwrite`, before the processes start.
    planned = tuning.build_tuner(setup)
    hypermodel = setup.hypermodel
    spec = {"task": tuning.task_name(task), "tuner": setup.tuner, "max_trials": setup.max_trials,
            "max_epochs": setup.max_epochs, "directory": setup.directory, "project_name": setup.project_name,
            "lr_range": list(hypermodel.lr_range), "optimizers": list(hypermodel.optimizers) or None,
            "seed": setup.seed, "verbose": setup.verbose, "chief_timeout": chief_timeout}
    if isinstance(hypermodel, UsersDataHyperModel):
        if isinstance(hypermodel, ModelHyperModel):
            spec["model"] = shareable_model(task, setup.project)
        else:
            spec["hypermodel"] = shareable_hypermodel(task, setup.project)
        spec.update(data=shareable_data(hypermodel, None, setup.project), batch_size=hypermodel.batch_size,
                    objective=[hypermodel.objective.name, hypermodel.objective.direction])
    else:
        spec["data"] = shareable_data(task, setup.data, setup.project)
    run_search(spec, workers, port=port, total=tuning.planned_trials(planned), objective=planned.oracle.objective,
               on_trial_end=on_trial_end)
    # The tuner reloads only when worker tuner0 saved its state, which a tuner0 that was restarted
    # and got no trial afterwards never does: read the trials the chief's oracle saved.
    searched = tuning.build_tuner(setup, overwrite=False)
    searched.oracle.reload()
    return tuning.SearchResult.from_tuner(searched, setup.max_epochs, setup.board, time.perf_counter() - start)


def take_part(role, task, x=None, y=None, *, on_trial_end=None, chief_timeout=CHIEF_TIMEOUT_SECONDS, **options):
    """Runs this process as KerasTuner's chief (`role="chief"`, serving the oracle) or as worker `role`.

    A restarted chief keeps the trials its workers still run
    (`keep_ongoing_trials`); a worker's oracle calls outlive a chief's
    restart (`ReconnectingOracle`). A chief that no worker calls for
    `chief_timeout` seconds while the search is unfinished (its workers
    died) stops with `RunError`, naming the open trials; workers started
    again under the same ids before then resume them.

    Returns:
        The chief's `SearchResult`; None in a worker.

    Raises:
        RunError: in the chief, after `chief_timeout` seconds without a call.
    """
    check_number(chief_timeout, "chief_timeout", above=0)
    start = time.perf_counter()
    setup = tuning.prepare_search(task, tuning.search_data(task, x, y), **options)
    searched = tuning.build_tuner(setup)
    if role != "chief":
        searched.oracle = ReconnectingOracle(searched.oracle)
        tuning.run_trials(searched, setup, on_trial_end, write_config=False)
        return None
    keep_ongoing_trials(searched.oracle)
    watchdog = _Watchdog(searched.oracle, chief_timeout)
    try:
        tuning.run_trials(searched, setup, on_trial_end)  # serves the oracle until the workers are done
    except KeyboardInterrupt:
        if watchdog.open_trials is None:
            raise
        raise RunError(f"no worker called the chief for {chief_timeout:g} s and the search is unfinished "
                       f"(open trials: {watchdog.open_trials}); the chief stops. Start the workers again "
                       f"with the same KERASTUNER_TUNER_ID, and the chief, to resume.") from None
    finally:
        watchdog.stop()
    return tuning.SearchResult.from_tuner(searched, setup.max_epochs, setup.board, time.perf_counter() - start)


class _Watchdog:
    """Interrupts the chief's main thread once no worker has called its oracle for `seconds` (see `take_part`)."""

    def __init__(self, oracle, seconds):
        self.oracle, self.seconds = oracle, seconds
        self.open_trials = None
        self._since = time.monotonic()
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, name="polykeras-chief-watchdog", daemon=True).start()

    def _watch(self):
        while not self._stopped.wait(min(1.0, self.seconds / 4)):
            last = max(self.oracle.last_call or self._since, self._since)
            if time.monotonic() - last >= self.seconds:
                running = {f"{t.trial_id} ({tuner})" for tuner, t in self.oracle.ongoing_trials.items()}
                running |= {t.trial_id for t in self.oracle.trials.values() if t.status == "RUNNING"
                            and t not in self.oracle.ongoing_trials.values()}
                self.open_trials = ", ".join(sorted(running)) or "none started"
                _thread.interrupt_main()
                return

    def stop(self):
        self._stopped.set()


def main(argv=None):
    """One chief or worker: `python -m polykeras.distributed SPEC_JSON`, with KerasTuner's variables set."""
    spec = json.loads((argv or sys.argv[1:])[0])
    task, data = spec.pop("task"), spec.pop("data", None)
    if isinstance(data, dict):
        data = _load_shared(task, data)
    if task in ("model", "hypermodel"):
        (x, y), validation = data
        users = load_model(spec.pop("model")) if task == "model" else _load_hypermodel(spec.pop("hypermodel"))
        search(users, x, y, validation_data=validation,
               **{**spec, "objective": keras_tuner.Objective(*spec["objective"])})
    else:
        search(task, data, **spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
