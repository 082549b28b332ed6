"""The command line's own checks of what it is given, made before a backend is imported: bad input in a blink.

Importing polykeras imports Keras and a backend, seconds on a busy machine,
so each command first checks its flags here (numbers, files, names), and a
mistake is one `error:` line at once. Each raises `UsageError`, whose message
names the flag and the value, as the library's own checks do (which run again
when the library is called: these only come first). Nothing here imports
polykeras or Keras.

Example:

>>> import argparse
>>> check_int(argparse.Namespace(max_trials=0), "max_trials")
Traceback (most recent call last):
...
polykeras_cli.checks.UsageError: --max-trials must be an integer >= 1. Received: 0
"""

import json
import math
import os
import zipfile

from polykeras_cli import standalone

bounds = standalone.load("bounds")

# Keras's optimizers by the names `keras.optimizers.get` takes (a test checks them against Keras's).
OPTIMIZERS = (
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "ftrl",
    "lion",
    "muon",
    "nadam",
    "rmsprop",
    "schedulefreeadamw",
    "sgd",
)
# Keras's initializers by the names `keras.initializers.get` takes (a test checks them against Keras's).
INITIALIZERS = (
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "stft",
    "truncated_normal",
    "variance_scaling",
    "zeros",
)


class UsageError(Exception):
    """Bad input found by the command line itself (exit code 2)."""


def flag(name):
    """`learning_rate` as the command line names it, `--learning-rate`."""
    return "--" + name.replace("_", "-")


def check_int(args, name, at_least=1, at_most=None):
    """Raises `UsageError` unless `args.<name>` (None passes) is an integer in [at_least, at_most]."""
    value = getattr(args, name)
    if value is not None and not bounds.whole(value, at_least, at_most):
        raise UsageError(f"{bounds.integer_must_be(flag(name), at_least, at_most)}. Received: {value}")


def check_number(args, name, *, above=None, at_least=None, below=None, at_most=None):
    """Raises `UsageError` unless `args.<name>` (None passes) is a finite number within the bounds given."""
    value, limits = getattr(args, name), bounds.given(above, at_least, below, at_most)
    if value is not None and not bounds.within(value, limits):
        raise UsageError(f"{bounds.must_be(flag(name), limits)}. Received: {value}")


def check_name(value, names, what, option):
    """Raises `UsageError` unless `value` is one of `names` (`what` says what they are, in the message)."""
    if value not in names and value.lower() not in names:
        raise UsageError(f"unknown {what}. Received: {option}={value!r}")


def floats(text, option):
    """A comma-separated list of finite numbers such as `"1,2,3"`."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"{option} must be comma-separated numbers. Received: {option}={text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{option} must be finite numbers. Received: {option}={text!r}")
    return values


def check_output_file(path, suffix=None, overwrite=True, option="--json", overwrite_option="--overwrite"):
    """Fails early for an output file that cannot or must not be written (`overwrite_option` allows replacing it)."""
    if path is None:
        return
    if suffix and not path.endswith(suffix):
        raise UsageError(f"{option} must name a {suffix} file. Received: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{option} names a directory. Received: {path}")
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"{option} target exists; pass {overwrite_option} to replace it. Received: {path}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{option} folder does not exist. Received: {path}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} folder is not writable. Received: {path}")


def check_log_dir(path):
    """Fails early for a `--log-dir` that a file blocks (the runs go in folders below it)."""
    if path is None:
        return
    here = os.path.abspath(path)
    while here and not os.path.exists(here):
        here = os.path.dirname(here)
    if os.path.exists(here) and not os.path.isdir(here):
        raise UsageError(f"--log-dir is blocked by a file. Received: {path}")


def check_model_file(path):
    """Fails early unless `path` is a `.keras` archive (what a saved model is): found, a zip, with a config."""
    if not os.path.isfile(path):
        raise UsageError(f"model file not found. Received: {path}")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise UsageError(f"not a .keras model file. Received: {path}")


def check_npz_file(path, what="--data must be an .npz file with arrays x and y"):
    """Fails early unless `path` is an existing `.npz` file."""
    if not (path.endswith(".npz") and os.path.isfile(path)):
        raise UsageError(f"{what}. Received: {path}")


def check_mnist_data(source):
    """Fails early for a `--data` that is none of `auto`, `keras`, `sample` or an existing `.npz` file."""
    if source in ("auto", "keras", "sample"):
        return
    if not source.endswith(".npz"):
        raise UsageError(f"--data must be auto, keras, sample or a path to an .npz file. Received: {source}")
    if not os.path.isfile(source):
        raise UsageError(f"MNIST file not found. Received: {source}")


def logged_metrics(path):
    """The metrics a model saved at `path` logs (`loss`, `accuracy`, ...), read from its file without Keras; None
    when its compile configuration is not a plain list (several outputs: the library then checks)."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    compiled = config.get("compile_config") or {}
    metrics = compiled.get("metrics") or []
    if not isinstance(metrics, list) or isinstance(compiled.get("loss"), (dict, list)):
        return None
    names = []
    for metric in metrics:
        if isinstance(metric, str):
            names.append(metric)
        elif isinstance(metric, dict) and isinstance(metric.get("config"), dict) and "name" in metric["config"]:
            names.append(metric["config"]["name"])
        else:
            return None
    return ["loss", *names]


def check_writable_dir(path, option):
    """Fails early for a folder that cannot be made or written: its nearest existing ancestor must be a writable
    folder."""
    here = os.path.abspath(path)
    while not os.path.exists(here):
        here = os.path.dirname(here)
    if not os.path.isdir(here) or not os.access(here, os.W_OK):
        raise UsageError(f"{option} cannot be written. Received: {path}")
