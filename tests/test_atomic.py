"""Files written whole or not at all: a write that fails halfway, or a process killed mid-write, leaves the old file."""

import json
import os
import signal
import subprocess
import sys

import pytest

from polykeras.atomic import atomic_file, remove_stale, temporary_path, write_text

pytestmark = pytest.mark.any_backend


def test_a_write_that_fails_halfway_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "state.json"
    write_text(path, json.dumps({"epoch": 1}))
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_file(path, "w") as f:
            f.write('{"epoch": 2, "weights": [')  # half of the new state
            raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary left


WRITER = """
import sys, time
from polykeras.atomic import atomic_file
with atomic_file(sys.argv[1], "w") as f:
    f.write('{"epoch": 2, ')
    f.flush()
    print("half written", flush=True)
    time.sleep(60)
    f.write('"done": true}')
"""


def test_a_process_killed_mid_write_leaves_the_previous_file_and_its_temporary_is_removed_later(tmp_path):
    path = tmp_path / "state.json"
    write_text(path, json.dumps({"epoch": 1}))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "half written\n"
        half = temporary_path(path, writer.pid)
        assert open(half).read() == '{"epoch": 2, '  # the fault: a half-written new state on disk
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert json.loads(path.read_text()) == {"epoch": 1}
    remove_stale(path)  # as Backup does when a run resumes
    assert not os.path.exists(half) and path.exists()


def test_remove_stale_keeps_a_live_processes_temporary(tmp_path):
    path = tmp_path / "state.json"
    mine = temporary_path(path)
    open(mine, "w").close()
    remove_stale(path)
    assert os.path.exists(mine)


def test_a_write_reaches_the_disk_before_the_rename_only_when_durable(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    write_text(tmp_path / "a.json", "{}")  # the cheap default for small state files
    assert synced == []
    write_text(tmp_path / "b.json", "{}", durable=True)
    assert len(synced) == 1
    with atomic_file(tmp_path / "c.bin") as f:  # atomic_file's default: durable
        f.write(b"\0")
    assert len(synced) == 2 and (tmp_path / "c.bin").read_bytes() == b"\0"


def test_remove_stale_reads_the_pid_after_the_last_marker_and_spares_live_processes(tmp_path):
    folder = tmp_path / "run.tmp-7"  # a marker in a folder's name is not the file's
    folder.mkdir()
    path = folder / "state.json"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        for pid in (live.pid, dead.pid, "abc"):
            open(temporary_path(path, pid), "w").close()
        remove_stale(path)
        assert sorted(os.listdir(folder)) == sorted([f"state.json.tmp-{live.pid}", "state.json.tmp-abc"])
        with pytest.raises(subprocess.TimeoutExpired):  # asked whether it runs (signal 0), not signalled
            live.wait(timeout=1)
    finally:
        live.kill()
        live.wait()
