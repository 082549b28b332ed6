"""Files written whole or not at all: a temporary file beside the target, flushed to disk, then renamed over it.

A process killed mid-write (SIGKILL) leaves the old file, or none, never half
of a new one: `os.replace` is atomic on one file system.

Example:

>>> import json, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "state.json")
>>> write_text(path, json.dumps({"epoch": 3}))
>>> json.load(open(path))
{'epoch': 3}
"""

import contextlib
import glob
import os


def temporary_path(path, pid=None):
    """Where `atomic_file` writes `path` before the rename, in process `pid` (default this one)."""
    return f"{os.fspath(path)}.tmp-{os.getpid() if pid is None else pid}"


@contextlib.contextmanager
def atomic_file(path, mode="wb", durable=True):
    """An open file that replaces `path` when the block ends without an error (and is dropped if one is raised).

    Args:
        path: The file to write.
        mode: `"wb"` or `"w"` (text, UTF-8).
        durable: Whether the data reach the disk (`fsync`) before the rename,
            so that a machine crash cannot leave an empty file either.
    """
    path, temporary = os.fspath(path), temporary_path(path)
    try:
        with open(temporary, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path, text, durable=False):
    """Writes `text` to `path` atomically (see `atomic_file`)."""
    with atomic_file(path, "w", durable=durable) as f:
        f.write(text)


def remove_stale(path):
    """Removes what `atomic_file` left of `path` in processes that no longer run (killed mid-write)."""
    for temporary in glob.glob(glob.escape(os.fspath(path)) + ".tmp-*"):
        pid = temporary.rpartition(".tmp-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
