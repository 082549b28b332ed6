"""Every Python block and every shell line of the README, run as pasted, in one folder and in the README's order, as
a user following it would: so the README cannot drift from the code.

Training is shortened with Keras's own settings (`KERAS_MAX_EPOCHS`, `KERAS_MAX_STEPS_PER_EPOCH`, and
`keras.config.set_max_epochs` in this process), which cap every `fit` without changing any line. Two kinds of
shell line are not run: `make` (CI runs `make test` itself) and `pip install` (it would install into this venv;
tests/test_packaging.py installs the wheel in a fresh one). Lines of one block that set `KERASTUNER_TUNER_ID`
are one search across processes: they run side by side, uncapped (see `_start`). `polykeras tensorboard` serves until stopped: it runs
until it prints its address, then is stopped by its PID.
"""

import os
import re
import shlex
import signal
import subprocess
import sys

import keras
import pytest

from conftest import REPO

pytestmark = [pytest.mark.any_backend("torch"), pytest.mark.timeout(600)]
SHORT = {"KERAS_MAX_EPOCHS": "1", "KERAS_MAX_STEPS_PER_EPOCH": "3"}


def blocks():
    """`(language, code, line)` of every fenced block of the README, in order."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    found = []
    for match in re.finditer(r"^```(\w+)\n(.*?)^```$", text, re.M | re.S):
        found.append((match.group(1), match.group(2), text[:match.start()].count("\n") + 1))
    return found


BLOCKS = [b for b in blocks() if b[0] in ("python", "sh")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The one folder where the README is followed, top to bottom."""
    return tmp_path_factory.mktemp("readme")


@pytest.fixture
def short(monkeypatch, folder):
    monkeypatch.chdir(folder)
    for name, value in SHORT.items():
        monkeypatch.setenv(name, value)
    keras.config.set_max_epochs(1)
    keras.config.set_max_steps_per_epoch(3)
    yield
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)


def _lines(code):
    """The shell lines of a block: comments and `make` and `pip` lines left out (see the module's doc)."""
    for line in code.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#") and not line.startswith(("make ", "pip ")):
            yield line


def test_the_readme_has_blocks_of_both_kinds():
    kinds = [language for language, _, _ in BLOCKS]
    assert kinds.count("python") >= 5 and kinds.count("sh") >= 5


@pytest.mark.parametrize("language, code, line", BLOCKS, ids=[f"{language}-line-{line}" for language, _, line in BLOCKS])
def test_every_block_runs_as_pasted(short, folder, capsys, language, code, line):
    if language == "python":
        exec(compile(code, f"README.md, line {line}", "exec"), {"__name__": "__main__"})
        return
    lines = list(_lines(code))
    together = [text for text in lines if text.startswith("KERASTUNER_TUNER_ID=")]
    if together:  # one search across processes
        processes = [_start(text, folder) for text in together]
        try:
            outputs = [p.communicate(timeout=400)[0] for p in processes]
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert [p.returncode for p in processes] == [0] * len(processes), outputs
        lines = [text for text in lines if text not in together]
    for text in lines:
        words = shlex.split(text)
        assert words[0] == "polykeras", text
        if words[1:2] == ["tensorboard"]:
            _serve_then_stop(words, folder)
            continue
        import polykeras_cli

        code_ = polykeras_cli.main(words[1:])
        out = capsys.readouterr()
        assert code_ == 0, f"{text}\n{out.out[-2000:]}{out.err[-2000:]}"


def _start(text, folder):
    """A shell line `NAME=value ... polykeras ARGS` as a process of this venv's Python."""
    words = shlex.split(text)
    # Uncapped: the search is the polynomial's (about 20 s), and KerasTuner's Hyperband resumes a trial with
    # `initial_epoch` past the cap, where `fit` trains nothing and the trial ends without a score.
    env = {k: v for k, v in os.environ.items() if k not in SHORT}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "polykeras", text
    return subprocess.Popen([sys.executable, "-m", "polykeras_cli", *words[1:]], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _serve_then_stop(words, folder):
    server = subprocess.Popen([sys.executable, "-m", "polykeras_cli", *words[1:], "--port", "0"], cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while server.poll() is None and "http://127.0.0.1:" not in line:
            line = server.stdout.readline()
        assert "http://127.0.0.1:" in line, line
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0
