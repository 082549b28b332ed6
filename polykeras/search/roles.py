"""The chief and the workers of KerasTuner's distributed mode, as polykeras runs them.

KerasTuner runs one search over several processes when each is started with
`KERASTUNER_TUNER_ID` (`chief` or `tuner0`, `tuner1`, ...),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`: the chief serves the
oracle, the workers ask it for trials. `take_part` runs this process as one
of them; what polykeras adds to each role:

- the chief, started again after a crash, keeps the trials its workers still
  run (`keep_ongoing_trials`), where KerasTuner's reload would queue them
  again and a live worker would then run its trial twice;
- a chief that no worker has called for `chief_timeout` seconds while trials
  are unfinished stops, naming them (`Watchdog`; keras-tuner#915: it waited
  forever);
- a worker's calls outlive a restart of the chief (`ReconnectingOracle`).

`python -m polykeras.search SPEC` (`main`) is one chief or worker of a search
that `polykeras.search.supervisor` started: it checks the spec and the files
it names (`polykeras.search.shared`) before it reads any of them, then loads
the task from them without preparing the search again.
"""

import _thread
import logging
import os
import signal
import sys
import threading
import time

import grpc

from polykeras import kerastuner_compat
from polykeras.errors import InvalidArgumentError, RunError
from polykeras.search import shared
from polykeras.search.progress import reporter
from polykeras.search.spec import SearchSpec
from polykeras.search.tuners import make_tuner, run_trials

# How long a worker's call waits for a chief that is being started again, in all.
RECONNECT_SECONDS = 600
POLL_SECONDS = 0.2
logger = logging.getLogger(__name__)


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

    def __init__(self, client, seconds=RECONNECT_SECONDS):
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_seconds", seconds)

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
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
    retry would run a trial twice. This restores the saved ongoing trials: a
    live worker ends its trial as usual, and a worker that died too is
    restarted under the same id and gets its trial back.

    Args:
        oracle: A reloaded KerasTuner oracle (the chief's).
    """
    for tuner_id, trial_id in kerastuner_compat.saved_ongoing_trials(oracle).items():
        trial = oracle.trials.get(trial_id)
        if trial is not None and trial.status == "RUNNING":
            kerastuner_compat.keep_trial_running(oracle, tuner_id, trial)


class Watchdog:
    """Interrupts the chief's main thread once no worker has called its oracle for `seconds`.

    Args:
        oracle: The chief's oracle (it records `last_call` with its `clock`).
        seconds: How long the chief waits for a call.
        clock: The oracle's clock, in seconds (a test passes a fake one).
        poll: Seconds between two looks at the clock.

    Attributes:
        open_trials: Once it fired, the unfinished trials it named.
    """

    def __init__(self, oracle, seconds, clock=time.monotonic, poll=None):
        self.oracle, self.seconds, self.clock = oracle, seconds, clock
        self.poll = min(1.0, seconds / 4) if poll is None else poll
        self.open_trials = None
        self._since = clock()
        self._stopped = threading.Event()
        # `interrupt_main` does nothing where SIGINT is ignored, as in a process started in the background by a
        # shell (`cmd &`): Python's own handler is put in place while the watchdog runs, and the old one back after.
        self._sigint = None
        if threading.current_thread() is threading.main_thread() and not callable(signal.getsignal(signal.SIGINT)):
            self._sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        threading.Thread(target=self._watch, name="polykeras-chief-watchdog", daemon=True).start()

    def due(self):
        """Whether `seconds` have passed since the last call (or since the watch began)."""
        last = max(self.oracle.last_call or self._since, self._since)
        return self.clock() - last >= self.seconds

    def _watch(self):
        while not self._stopped.wait(self.poll):
            if self.due():
                ongoing = kerastuner_compat.ongoing_trials(self.oracle)
                running = {f"{t.trial_id} ({tuner})" for tuner, t in ongoing.items()}
                running |= {
                    t.trial_id
                    for t in self.oracle.trials.values()
                    if t.status == "RUNNING" and t not in ongoing.values()
                }
                self.open_trials = ", ".join(sorted(running)) or "none started"
                _thread.interrupt_main()
                return

    def stop(self):
        self._stopped.set()
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)
            self._sigint = None


def take_part(role, spec, task, on_trial_end=None, total=None, overwrite=False):
    """Runs this process as KerasTuner's chief (`role="chief"`, serving the oracle) or as worker `role`.

    Args:
        role: `"chief"`, or a worker's tuner id (`"tuner0"`, ...).
        spec: The search's `SearchSpec`.
        task: Its task (`polykeras.tasks`, `polykeras.search.user_tasks`).
        on_trial_end: Called with `progress.trial_progress`'s dict for each
            trial this worker finishes, numbered by the chief's finished trials.
        total: The planned number of trials, for `on_trial_end`.
        overwrite: Whether the chief clears the project first (a launcher
            on this machine has done it already).

    Returns:
        The chief's tuner, once the search is done; None in a worker.

    Raises:
        RunError: in the chief, after `spec.chief_timeout` seconds without a call.
    """
    tuner = make_tuner(spec, task, overwrite=overwrite and role == "chief")
    if role != "chief":
        kerastuner_compat.reconnecting(tuner, ReconnectingOracle)
        run_trials(tuner, spec, reporter(tuner.oracle, total, task.objective, on_trial_end), write_config=False)
        return None
    keep_ongoing_trials(tuner.oracle)
    logger.info(
        "chief: serving the search's oracle on %s:%s; the workers ask it for trials (it stops after %g s without a "
        "call while trials are unfinished)",
        os.environ.get("KERASTUNER_ORACLE_IP"),
        os.environ.get("KERASTUNER_ORACLE_PORT"),
        spec.chief_timeout,
    )
    watchdog = Watchdog(tuner.oracle, spec.chief_timeout, clock=tuner.oracle.clock)
    try:
        run_trials(tuner, spec)  # serves the oracle until the workers are done
    except KeyboardInterrupt:
        if watchdog.open_trials is None:
            raise
        raise RunError(
            f"no worker called the chief for {spec.chief_timeout:g} s and the search is unfinished "
            f"(open trials: {watchdog.open_trials}); the chief stops. Start the workers again "
            f"with the same KERASTUNER_TUNER_ID, and the chief, to resume."
        ) from None
    finally:
        watchdog.stop()
    return tuner


def main(argv=None):
    """`python -m polykeras.search SPEC`: one chief or worker, with KerasTuner's variables set.

    Bad input (an unreadable spec, a file it names that is not to be trusted)
    is one `error:` line and exit code 2, found before anything is read from
    the files; a run that fails is one line and exit code 1.
    """
    role = os.environ.get("KERASTUNER_TUNER_ID", "")
    try:
        (path,) = argv if argv is not None else sys.argv[1:]
        spec = SearchSpec.load(path)
        shared.check_spec(spec)
    except (InvalidArgumentError, OSError, ValueError, TypeError) as e:
        print(f"error: {role or 'a search process'} cannot start: {e}", file=sys.stderr)
        return 2
    logger.info(
        "%s (pid %d) sees devices: CUDA_VISIBLE_DEVICES=%s",
        role,
        os.getpid(),
        os.environ.get("CUDA_VISIBLE_DEVICES", "(all)"),
    )
    try:
        take_part(role, spec, shared.load_task(spec))
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
