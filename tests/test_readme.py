"""The README followed as a user would: the Quickstart as pasted, and every other block in the README's order.

The Quickstart runs in fresh processes, in a fresh folder, with no backend named (`KERAS_BACKEND` unset, and a
Keras home of its own, so no `keras.json` names one either): in the install with all three backends (TensorFlow's
pass: Keras's default) and in the one with JAX alone (the JAX-only pass), where polykeras must pick JAX and say so.
What its comments state (`# below 1e-12`, `# about 95 %`, `# 3 trials`) is compared with what it printed, and each
mistake of its list must be the one `error:` line it shows. Only `git` and `pip` lines are not run.

Every other block runs in this process, in one folder, in the README's order, with training shortened by Keras's
own settings (`KERAS_MAX_EPOCHS`, `KERAS_MAX_STEPS_PER_EPOCH`), which cap every `fit` without changing any line:
they show how to call things, and each call is tested for what it does, on every backend, by its own tests.
"""

import http.client
import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import keras
import pytest
from helpers import REPO

SHORT = {"KERAS_MAX_EPOCHS": "1", "KERAS_MAX_STEPS_PER_EPOCH": "3"}


def blocks(text=None):
    """`(language, code, line)` of every fenced block of the README (or of `text`), in order."""
    text = text or open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    return [
        (match.group(1), match.group(2), text[: match.start()].count("\n") + 1)
        for match in re.finditer(r"^```(\w+)\n(.*?)^```$", text, re.M | re.S)
    ]


def _section(title):
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    start = text.index(f"## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def _lines(code):
    """`(command, comment)` of each line of a shell block, but `git`, `pip` and `export` lines."""
    for line in code.splitlines():
        command, _, comment = line.partition(" #")
        command = command.strip()
        if command and not command.startswith(("git ", "pip ", "export ", "make ")):
            yield command, comment.strip()


def _stated(comment, printed):
    """Checks what a comment states against what was printed: `below X`, `about N %` (within 3 points), `N trials`."""
    if match := re.search(r"below ([\d.e+-]+)", comment):
        found = re.search(r"gap to least squares: ([\d.e+-]+)", printed)
        assert found and float(found.group(1)) < float(match.group(1)), (comment, printed[-2000:])
    elif match := re.search(r"about ([\d.]+) %", comment):
        found = re.findall(r"([\d.]+) ?%", printed)
        assert found and abs(float(found[-1]) - float(match.group(1))) <= 3, (comment, printed[-2000:])
    elif match := re.search(r"(\d+) trials", comment):
        assert f"{match.group(1)} trials" in printed, (comment, printed[-2000:])


def _environment(folder):
    """A user's: no backend named, a Keras home of its own, this venv's `polykeras` on the PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", *SHORT)}
    env.update(KERAS_HOME=str(folder / "keras-home"), PATH=f"{os.path.dirname(sys.executable)}:{env['PATH']}")
    return env


def _serve_then_stop(words, folder, env):
    """Runs `polykeras tensorboard` until it answers HTTP, then stops it with Ctrl-C (SIGINT): exit 0."""
    server = subprocess.Popen(
        [*words, "--port", "0"],
        cwd=folder,
        env={**env, "PYTHONFAULTHANDLER": "1"},  # a stop that hangs shows where: SIGABRT dumps every thread
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        while server.poll() is None and "http://127.0.0.1:" not in line:
            line = server.stdout.readline()
        url = re.search(r"http://127.0.0.1:(\d+)/", line)
        assert url, line
        deadline = time.monotonic() + 60
        while True:  # serving: it answers, so Ctrl-C now is the user's, after the start
            try:
                connection = http.client.HTTPConnection("127.0.0.1", int(url.group(1)), timeout=5)
                connection.request("GET", "/data/runs")
                assert connection.getresponse().status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "TensorBoard never answered"
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            printed, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGABRT)
            printed, _ = server.communicate()
    if server.returncode != 0:
        print(printed)  # in full, where pytest shows what a failed test printed
    assert server.returncode == 0, server.returncode


@pytest.mark.quickstart
@pytest.mark.any_backend("tensorflow")  # and in the JAX-only pass: see conftest.py
@pytest.mark.timeout(900)
def test_the_quickstart_runs_as_pasted_and_prints_what_it_says(tmp_path):
    quickstart = blocks(_section("Quickstart"))
    assert [language for language, _, _ in quickstart] == ["sh", "python", "sh", "sh"]
    env = _environment(tmp_path)
    (tmp_path / "quickstart.py").write_text(quickstart[1][1])
    done = subprocess.run(
        [sys.executable, "quickstart.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.splitlines()
    comments = [line.partition("  # ")[2] for line in quickstart[1][1].splitlines() if line.startswith("print(")]
    assert len(printed) == len(comments) == 3, done.stdout
    for comment, line in zip(comments, printed, strict=True):
        _stated(comment, line)
    installed = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]
    if "tensorflow" not in installed:  # polykeras chose, and said so in one line
        assert done.stderr.count("using jax (set KERAS_BACKEND to choose)") == 1, done.stderr[-2000:]
    for command, comment in _lines(quickstart[2][1]):
        words = shlex.split(command)
        if words[1] == "tensorboard":
            _serve_then_stop(words, tmp_path, env)
            continue
        ran = subprocess.run(words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0, (command, ran.stdout[-2000:], ran.stderr[-2000:])
        assert ran.stdout.startswith(f"backend: {installed[0]}\n"), ran.stdout[:200]
        _stated(comment, ran.stdout)
    for command, comment in _lines(quickstart[3][1]):
        ran = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        expected = comment.removesuffix("...").strip()
        assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.startswith(expected), (command, ran.stderr)
        assert ran.stderr.count("\n") == 1, ran.stderr


def _other_blocks():
    """Every python or sh block outside the Quickstart that has a line to run."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    start = text.index("## Quickstart\n")
    end = text.index("\n## ", start + 1)
    first, last = text[:start].count("\n") + 1, text[:end].count("\n") + 1
    found = []
    for language, code, line in blocks(text):
        if language == "python" or (language == "sh" and list(_lines(code))):
            if not first <= line <= last:
                found.append((language, code, line))
    return found


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


@pytest.mark.any_backend("torch")
@pytest.mark.timeout(600)
@pytest.mark.parametrize("language, code, line", _other_blocks(), ids=[f"{b[0]}-line-{b[2]}" for b in _other_blocks()])
def test_every_other_block_runs_as_pasted(short, folder, capsys, language, code, line):
    if language == "python":
        exec(compile(code, f"README.md, line {line}", "exec"), {"__name__": "__main__"})
        return
    lines = [command for command, _ in _lines(code)]
    together = [text for text in lines if text.startswith("KERASTUNER_TUNER_ID=")]
    if together:  # one search across processes, side by side
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
    import polykeras_cli

    for text in lines:
        words = shlex.split(text)
        assert words[0] == "polykeras", text
        code_ = polykeras_cli.main(words[1:])
        out = capsys.readouterr()
        assert code_ == 0, f"{text}\n{out.out[-2000:]}{out.err[-2000:]}"


def _start(text, folder):
    """A shell line `NAME=value ... polykeras ARGS` as a process of this venv's Python, uncapped: Hyperband resumes
    a trial with `initial_epoch` past the cap, where `fit` trains nothing and the trial ends without a score."""
    words = shlex.split(text)
    env = {k: v for k, v in os.environ.items() if k not in SHORT}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "polykeras", text
    return subprocess.Popen(
        [sys.executable, "-m", "polykeras_cli", *words[1:]],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
