"""Backups of a training run that cost almost nothing and are never half-read.

`Backup` is polykeras's `keras.callbacks.BackupAndRestore`: a run killed at
any moment, even by SIGKILL, restarts from its last backed-up epoch. It differs
in three ways, each measured in `benchmarks/logging_overhead.py`:

- **Asynchronous.** At an epoch's end the model's and the optimizer's
  variables (random-seed states and the step counter included) and the random
  states of the process that training draws from (`polykeras.random_states`:
  the order `fit` shuffles in, PyTorch's dropout) are copied to host memory,
  which takes a few milliseconds; a background thread writes the copy to disk.
  A run resumed from it ends where the unbroken run would have, bit for bit.
- **On a time budget.** A backup is taken only when the time since the last
  one is at least `1 / budget` times what the last one cost, so backing up
  costs at most about `budget` of the training time however short the epochs
  are. The first epoch is always backed up, and so is every epoch longer than
  that interval.
- **Atomic.** The state and its epoch number go into one file, written
  beside `backup.npz` under a temporary name (`polykeras.atomic`), flushed to
  disk, then renamed over it. A rename is atomic, so a process killed
  mid-write leaves the previous backup whole; its temporary file is never
  read, and the next run removes it.

Its arguments are `BackupAndRestore`'s, with the same meaning, and two more
(`budget`, `clock`); `save_freq` is `"epoch"` only, as backups are taken at
epochs' ends.

Example:

>>> import tempfile, numpy as np
>>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> folder = tempfile.mkdtemp()
>>> x = np.ones((8, 1))
>>> _ = model.fit(x, x, epochs=2, verbose=0, callbacks=[Backup(folder, delete_checkpoint=False, budget=0)])
>>> backed_up_epochs(folder)
2
"""

import logging
import os
import shutil
import threading
import time

import keras
import numpy as np

from polykeras import keras_compat, random_states
from polykeras.atomic import atomic_file, remove_stale
from polykeras.checks import check_number
from polykeras.errors import InvalidArgumentError, RunError

logger = logging.getLogger(__name__)
BACKUP_FILE = "backup.npz"
PREVIOUS_FILE = "backup.previous.npz"  # with `double_checkpoint`
RANDOM = "random/"  # the names of the random states in a backup file
# The write in flight for each backup file, whichever `Backup` started it: a `fit` that raised leaves its
# last write running, and the next `fit` on the same folder (a new `Backup` or the same) waits for it.
_WRITES = {}


def backed_up_epochs(backup_dir):
    """The number of epochs the backup in `backup_dir` holds: 0 when there is none."""
    try:
        with np.load(os.path.join(backup_dir, BACKUP_FILE)) as state:
            return int(state["epoch"])
    except FileNotFoundError:
        return 0


class Backup(keras.callbacks.Callback):
    """Backs up the training state now and then, and restores it when training starts again.

    Args:
        backup_dir: The folder of the backup (created if missing).
        save_freq: `"epoch"`: backups are taken at epochs' ends (as often as
            `budget` allows). A number of batches, which `BackupAndRestore`
            also takes, is refused with `InvalidArgumentError` (a `ValueError`).
        double_checkpoint: Whether the previous backup is kept too, and
            restored when the last one cannot be read (a damaged disk: a
            killed write never damages it).
        delete_checkpoint: Whether a `fit` that finishes removes the backup
            folder, as `BackupAndRestore` does, so the next run starts afresh.
        budget: The largest share of training time that backing up may
            take; 0 backs up at every epoch's end.
        clock: What the budget reads the time from, in seconds (tests pass
            a fake one to check the budget exactly).

    Attributes:
        saved_epochs: The epochs (1-based) backed up during this `fit`.
        resumed_epoch: The epoch that training resumed after, or 0.
    """

    def __init__(
        self,
        backup_dir,
        save_freq="epoch",
        double_checkpoint=False,
        delete_checkpoint=True,
        *,
        budget=0.02,
        clock=time.perf_counter,
    ):
        super().__init__()
        if not backup_dir:
            raise InvalidArgumentError(
                f"backup_dir must name a folder. Received: backup_dir={backup_dir!r}", "backup_dir"
            )
        if save_freq != "epoch":
            raise InvalidArgumentError(
                f"save_freq must be 'epoch': Backup backs up at epochs' ends, within its time "
                f"budget. Received: save_freq={save_freq!r}",
                "save_freq",
            )
        check_number(budget, "budget", at_least=0, below=1)
        if not callable(clock):
            raise InvalidArgumentError(
                f"clock must be a function that returns the time. Received: clock={clock!r}", "clock"
            )
        self.backup_dir = backup_dir
        self.budget = float(budget)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = delete_checkpoint
        self.clock = clock
        self.saved_epochs = []
        self.resumed_epoch = 0
        self._path = os.path.join(backup_dir, BACKUP_FILE)
        self._previous = os.path.join(backup_dir, PREVIOUS_FILE)
        self._writer = None
        self._error = None
        self._last_save = None  # when the last backup was taken
        self._cost = 0.0  # what it cost: the copy in the training loop plus the write beside it, in seconds
        self._write_seconds = 0.0

    def _variables(self):
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        return list(self.model.variables) + (list(optimizer.variables) if optimizer is not None else [])

    def on_train_begin(self, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.wait()  # this callback's own write, left running by a `fit` that raised
        in_flight = _WRITES.get(os.path.realpath(self._path))
        if in_flight is not None:  # another `Backup`'s, on the same folder
            in_flight.join()
        self.saved_epochs, self.resumed_epoch, self._last_save = [], 0, None
        remove_stale(self._path)  # a write a SIGKILL interrupted
        state = self._read()
        if state is None:
            return
        variables = self._variables()
        values, randomness, self.resumed_epoch = state
        # Matched by structure, as `load_weights` does: layer names may differ between processes.
        if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
            raise RunError(f"the backup in {self.backup_dir} is of another model; delete it to start afresh")
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        random_states.restore(randomness)
        keras_compat.resume_at_epoch(self.model, self.resumed_epoch)
        logger.info("resuming from the backup: epochs 1-%d already done", self.resumed_epoch)

    def _read(self):
        """`(values, random states, epoch)` of the last backup, or of the previous one when the last cannot be read;
        or None."""
        paths = [p for p in [self._path] + ([self._previous] if self.double_checkpoint else []) if os.path.exists(p)]
        for path in paths:
            try:
                with np.load(path) as state:
                    values = [state[f"v{i}"] for i in range(int(state["count"]))]
                    randomness = {name[len(RANDOM) :]: state[name] for name in state.files if name.startswith(RANDOM)}
                    return values, randomness, int(state["epoch"])
            except Exception as e:  # damaged: the previous one, if any
                if path == paths[-1]:
                    raise RunError(
                        f"the backup {path} cannot be read ({type(e).__name__}: {e}); "
                        f"delete {self.backup_dir} to start afresh"
                    ) from e
        return None

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        due = self._last_save is None or self.budget == 0 or (now - self._last_save) * self.budget >= self._cost
        if not due:
            return
        self.wait()  # at most one write in flight
        variables = self._variables()
        state = {f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(variables)}
        state.update({f"{RANDOM}{name}": value for name, value in random_states.capture().items()})
        state.update(epoch=np.array(epoch + 1), count=np.array(len(variables)))
        self.saved_epochs.append(epoch + 1)
        self._last_save = self.clock()
        self._cost = self._last_save - now + self._write_seconds  # the previous write's, measured
        self._writer = threading.Thread(target=self._write, args=(state,), daemon=True)
        _WRITES[os.path.realpath(self._path)] = self._writer
        self._writer.start()

    def _write(self, state):
        start = self.clock()
        try:
            self._save(state)
        except OSError as e:
            self._error = e
        finally:
            key = os.path.realpath(self._path)
            if _WRITES.get(key) is threading.current_thread():
                del _WRITES[key]
        self._write_seconds = self.clock() - start

    def _save(self, state):
        if self.double_checkpoint and os.path.exists(self._path):  # the last backup, copied whole first
            with atomic_file(self._previous) as f, open(self._path, "rb") as last:
                shutil.copyfileobj(last, f)
        with atomic_file(self._path) as f:
            np.savez(f, **state)

    def wait(self):
        """Waits for the backup being written; raises `RunError` if a write failed."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._error is not None:
            error, self._error = self._error, None
            raise RunError(f"the backup could not be written to {self.backup_dir}: {error}")

    def on_train_end(self, logs=None):
        self.wait()
        if self.delete_checkpoint:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
