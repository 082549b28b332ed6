"""polykeras.runs: fresh run folders, the run lock, and finding a killed run again."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from polykeras import runs
from polykeras.errors import InvalidArgumentError, RunInProgress
from polykeras.runs import LOCK_FILE, MARKER_FILE, TrainingRun, new_run_dir

pytestmark = pytest.mark.any_backend  # no Keras: one pass is enough


def test_new_run_dir_never_reuses_a_folder(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    first = new_run_dir(root, "legendre-d5")
    assert re.fullmatch(r"\d{8}-\d{6}-legendre-d5", os.path.basename(first)) and os.path.isdir(first)
    # Runs started in the same second get -2, -3.
    monkeypatch.setattr(runs.time, "strftime", lambda _: "20261207-101500")
    folders = [new_run_dir(root, "legendre-d5") for _ in range(3)]
    assert [os.path.basename(f) for f in folders] == [
        "20261207-101500-legendre-d5",
        "20261207-101500-legendre-d5-2",
        "20261207-101500-legendre-d5-3",
    ]
    assert all(os.path.isdir(f) and not os.listdir(f) for f in folders)


@pytest.mark.parametrize("blocked", ["file", "parent file"])
def test_a_root_blocked_by_a_file_names_runs_dir(tmp_path, blocked):
    (tmp_path / "runs").write_text("not a folder")
    root = tmp_path / "runs" if blocked == "file" else tmp_path / "runs" / "deeper"
    with pytest.raises(InvalidArgumentError, match=r"runs_dir is blocked by a file\. Received: runs_dir=") as e:
        new_run_dir(root, "x")
    assert e.value.parameter == "runs_dir"
    with pytest.raises(InvalidArgumentError, match="runs_dir is blocked by a file"):
        TrainingRun.open(root, "x", settings=[1])
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_an_unwritable_root_names_runs_dir():
    root = "/sys/polykeras-test/runs"  # refused even to root
    with pytest.raises(InvalidArgumentError, match=r"runs_dir cannot be written \((Operation not permitted|Perm)") as e:
        new_run_dir(root, "x")
    assert e.value.parameter == "runs_dir" and str(e.value).endswith(f"Received: runs_dir={root!r}")


def test_equal_settings_find_the_killed_run_and_other_settings_a_new_one(tmp_path):
    root = tmp_path / "logs" / "train-mnist"
    with TrainingRun.open(root, "mlp", settings=[1, "a"]) as first:
        assert not first.resumed and os.path.dirname(first.log_dir) == str(root)
        assert (open(os.path.join(first.backup_dir, MARKER_FILE)).read()) == first.log_dir
        assert open(os.path.join(first.backup_dir, LOCK_FILE)).read() == str(os.getpid())
    # The backup folder is still there (the run did not finish): the same settings resume it.
    with TrainingRun.open(root, "mlp", settings=[1, "a"]) as again:
        assert again.resumed and again.log_dir == first.log_dir and again.backup_dir == first.backup_dir
    with TrainingRun.open(root, "mlp", settings=[2, "a"]) as other:
        assert not other.resumed and other.backup_dir != first.backup_dir and other.log_dir != first.log_dir


def test_a_run_without_logs_resumes_without_logs_and_an_earlier_log_folder_is_kept(tmp_path):
    with TrainingRun.open(tmp_path, "mlp", settings=[1], log=False) as quiet:
        assert quiet.log_dir is None and not quiet.resumed
    with TrainingRun.open(tmp_path, "mlp", settings=[1], log=True) as resumed:
        assert resumed.resumed and resumed.log_dir is None  # its marker names no log folder
    with TrainingRun.open(tmp_path, "mlp", settings=[2]) as logged:
        pass
    with TrainingRun.open(tmp_path, "mlp", settings=[2], log=False) as unlogged:
        assert unlogged.resumed and unlogged.log_dir is None and os.path.isdir(logged.log_dir)


def test_a_finished_run_that_logged_nothing_leaves_no_folders(tmp_path):
    root = tmp_path / "logs" / "train-mnist"
    run = TrainingRun.open(root, "mlp", settings=[1], log=False)
    os.remove(os.path.join(run.backup_dir, LOCK_FILE))  # what `Backup` does when fit finishes: the folder goes
    os.remove(os.path.join(run.backup_dir, MARKER_FILE))
    os.rmdir(run.backup_dir)
    run.close()
    assert os.listdir(tmp_path) == []  # logs/ and logs/train-mnist were created by the run, and are gone
    # A root that existed before is kept, and so is a folder with anything in it.
    root.mkdir(parents=True)
    run = TrainingRun.open(root, "mlp", settings=[1], log=False)
    run.close()
    assert os.path.isdir(run.backup_dir)


LOCK_HOLDER = """
import sys, time
from polykeras.runs import TrainingRun
run = TrainingRun.open(sys.argv[1], "mlp", settings=[1])
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_process_is_refused_until_the_first_is_sigkilled(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        listing = sorted(os.listdir(tmp_path))
        with pytest.raises(RunInProgress) as refused:
            TrainingRun.open(tmp_path, "mlp", settings=[1])
        assert refused.value.pid == holder.pid and sorted(os.listdir(tmp_path)) == listing
        with TrainingRun.open(tmp_path, "mlp", settings=[2]):  # other settings are another run
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    with TrainingRun.open(tmp_path, "mlp", settings=[1]) as resumed:  # the kernel dropped the lock
        assert resumed.resumed and time.monotonic() < deadline
        assert open(os.path.join(resumed.backup_dir, LOCK_FILE)).read() == str(os.getpid())
