"""Run folders: where each training run writes, and how a killed run is found again.

Every run gets a fresh folder `<root>/<stamp>-<name>[-N]` for its TensorBoard
logs; a folder is never reused. A resumable run (`train-mnist`) also has a
backup folder named after its settings, so the same settings find the same
backup: it holds the `polykeras.backup.Backup` state, a marker naming the run's
log folder, and a lock that keeps two processes from training the same run at
once.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> with TrainingRun.open(root, "mlp", settings=[1, 2]) as run:
...     run.resumed, os.path.dirname(run.log_dir) == root
(False, True)
"""

import dataclasses
import fcntl
import hashlib
import json
import os
import time

from polykeras.errors import InvalidArgumentError, RunInProgress

LOCK_FILE = "lock"
MARKER_FILE = "run_dir.txt"


def new_run_dir(root, name):
    """Creates a fresh, time-stamped run folder under `root`; never an existing one.

    Args:
        root: The folder of runs (created if missing).
        name: What the run is, such as `"legendre-d5"`.

    Returns:
        The new folder's path, `<root>/<stamp>-<name>` with `-2`, `-3`, ...
        appended when that name is taken.

    Raises:
        InvalidArgumentError: when `root` is blocked by a file or cannot be written.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = os.path.join(root, f"{stamp}-{name}")
    suffix = 1
    while os.path.exists(run):
        suffix += 1
        run = os.path.join(root, f"{stamp}-{name}-{suffix}")
    _makedirs(run, root)
    return run


def _missing_folders(path):
    """The folders from `path` up that do not exist yet, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def _makedirs(path, root, exist_ok=False):
    try:
        os.makedirs(path, exist_ok=exist_ok)
    except (FileExistsError, NotADirectoryError):
        raise InvalidArgumentError(
            f"runs_dir is blocked by a file. Received: runs_dir={os.fspath(root)!r}", "runs_dir"
        ) from None
    except OSError as e:
        raise InvalidArgumentError(
            f"runs_dir cannot be written ({e.strerror}). Received: runs_dir={os.fspath(root)!r}", "runs_dir"
        ) from None


@dataclasses.dataclass
class TrainingRun:
    """A resumable run, locked by this process until `close()`.

    Attributes:
        log_dir: The run's TensorBoard folder, or None when not logging.
        backup_dir: The folder for `polykeras.backup.Backup`.
        resumed: Whether an earlier process of the same run was killed and
            this one continues it (same `log_dir`).
    """

    log_dir: str
    backup_dir: str
    resumed: bool
    _lock: object = dataclasses.field(repr=False, default=None)
    _created: list = dataclasses.field(repr=False, default_factory=list)

    @classmethod
    def open(cls, root, name, settings, log=True):
        """Opens the run with these settings: the killed one if there is one, else a new one.

        The lock is taken before anything else is written, and the kernel
        drops it when the process ends, even by SIGKILL, so no stale lock
        survives a crash.

        Args:
            root: The folder of runs, such as `logs/train-mnist`.
            name: What the run is; names its log folder.
            settings: Everything that defines the run (JSON-serialisable);
                equal settings share one backup folder.
            log: Whether the run writes TensorBoard logs.

        Returns:
            A `TrainingRun`, also a context manager that closes it.

        Raises:
            RunInProgress: when another live process holds the same run.
            InvalidArgumentError: when `root` cannot be written.
        """
        digest = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
        backup = os.path.join(root, f"backup-{digest}")
        created = _missing_folders(root)
        _makedirs(backup, root, exist_ok=True)
        lock = open(os.path.join(backup, LOCK_FILE), "a+", encoding="utf-8")  # "a+": opening writes nothing
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            lock.close()
            raise RunInProgress(int(holder) if holder.isdigit() else None) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()

        marker = os.path.join(backup, MARKER_FILE)
        resumed = os.path.exists(marker)
        if resumed:  # the same run folder, unless logging is off now
            with open(marker, encoding="utf-8") as f:
                log_dir = f.read().strip() or None
        else:
            log_dir = new_run_dir(root, name) if log else None
            with open(marker, "w", encoding="utf-8") as f:
                f.write(log_dir or "")
        return cls(log_dir=log_dir if log else None, backup_dir=backup, resumed=resumed, _lock=lock, _created=created)

    def close(self):
        """Releases the lock, and removes the folders `open` created if the run left them empty.

        `Backup` removes the backup folder itself when `fit` finishes, so a run
        that logged nothing leaves nothing behind.
        """
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        for folder in self._created:
            try:
                os.rmdir(folder)
            except OSError:  # not empty, or gone: either way it stays as it is
                return

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
