"""The `polykeras` command line: it parses, checks, calls the library, and prints.

This package sits beside `polykeras` rather than inside it: `import polykeras`
imports Keras and a backend, seconds on a busy machine, while `polykeras
--help` and a mistyped flag must answer at once. So each command is a module
with three parts: `add_arguments(parser)`; `check(args)`, which looks at its
flags without Keras (`polykeras_cli.checks`); and `run(args)`, which imports
the library once the arguments are sound. The library is imported inside
`run`, where the backend it loads is wanted.

The backend is `--backend`, else the one polykeras chooses when it is
imported (`polykeras.backend_choice`: `KERAS_BACKEND`, else `keras.json`'s,
else TensorFlow when installed, else JAX, else PyTorch); every command prints
it and writes it to its JSON.

Exit codes: 0 done; 1 the run failed (diverged, collapsed, the same run in
progress, a search process died, every trial failed), with one `error:` line,
or a bug, with its traceback; 2 bad input (`error: <what is wrong, with the
value>`), found before anything is trained or written.

Example:

    polykeras fit-poly --degree 2 --true-coefficients 1,2,3 --json fit.json
"""

import argparse
import ast
import contextlib
import logging
import os
import re
import sys
import typing

from polykeras_cli import board, lr_find, mnist, poly, standalone, tune
from polykeras_cli.checks import UsageError

EXIT_FAILURE = 1
EXIT_USAGE = 2
# Options whose values may start with "-" (`--x-range -1,1`), which argparse
# would otherwise read as an option.
_SIGNED_LIST_OPTIONS = ("--x-range", "--true-coefficients")


backend_choice = standalone.load("backend_choice")
BACKENDS = backend_choice.BACKENDS


class Command(typing.NamedTuple):
    """A command: its flags, their checks before any backend is imported, and what it runs."""

    name: str
    summary: str
    add_arguments: typing.Callable
    check: typing.Callable
    run: typing.Callable


# The commands, in the order --help lists them.
COMMANDS = [
    Command(
        "fit-poly",
        "learn polynomial coefficients from zeros with compile/fit",
        poly.add_fit_arguments,
        poly.check_fit,
        poly.fit,
    ),
    Command(
        "demo",
        "the seed's problem end to end (what `make demo` runs)",
        poly.add_demo_arguments,
        poly.check_demo,
        poly.demo,
    ),
    Command(
        "train-mnist",
        "train the MNIST MLP with compile/fit; a killed run resumes",
        mnist.add_train_arguments,
        mnist.check_train,
        mnist.train,
    ),
    Command(
        "evaluate",
        "accuracy of a saved model on MNIST's test part",
        mnist.add_evaluate_arguments,
        mnist.check_evaluate,
        mnist.evaluate,
    ),
    Command(
        "predict", "the digit in each PNG/JPEG image", mnist.add_predict_arguments, mnist.check_predict, mnist.predict
    ),
    Command(
        "inspect",
        "every variable of a saved model: path, shape, trainable",
        mnist.add_inspect_arguments,
        mnist.check_inspect,
        mnist.inspect,
    ),
    Command(
        "tune",
        "search the learning rate with KerasTuner; run again, it continues",
        tune.add_arguments,
        tune.check,
        tune.run,
    ),
    Command(
        "lr-find",
        "learning-rate range test: sweep, check by training, suggest",
        lr_find.add_arguments,
        lr_find.check,
        lr_find.run,
    ),
    Command("tensorboard", "serve the logs with TensorBoard on 127.0.0.1", board.add_arguments, board.check, board.run),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = _Parser(
        prog="polykeras",
        description="Watch weights learn with Keras 3: a polynomial layer that starts at zero, "
        "an MNIST MLP, TensorBoard logging and KerasTuner learning-rate search.",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the Keras backend (default: KERAS_BACKEND, else keras.json's if installed, else tensorflow if "
        "installed, else jax, else torch)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.summary, description=command.summary)
        command.add_arguments(p)
        p.set_defaults(command=command, parser=parser)
    return parser


def _join_signed_values(argv):
    out = []
    it = iter(argv)
    for token in it:
        if token in _SIGNED_LIST_OPTIONS:
            value = next(it, None)
            out.append(token if value is None else f"{token}={value}")
        else:
            out.append(token)
    return out


def _load_backend(requested):
    """Imports polykeras, on the backend `--backend` names or the one it chooses; returns the backend's name.

    A backend that is not installed is bad input, named with the extra that
    installs it. TensorFlow's import-time log lines (absl's initialisation
    notice, the CUDA probe) are written to file descriptor 2 before it reads
    `TF_CPP_MIN_LOG_LEVEL`, so stderr is pointed at /dev/null for the import
    alone; what polykeras logs meanwhile (the backend it chose) is shown after.
    """
    current = sys.modules["keras"].backend.backend() if "keras" in sys.modules else None
    if requested:
        if current not in (None, requested):
            raise UsageError(
                f"--backend cannot change the backend of a process where Keras runs on {current}. "
                f"Received: --backend {requested}"
            )
        if current is None and not backend_choice.is_installed(requested):
            raise UsageError(backend_choice.not_installed(requested, received=f"--backend {requested}"))
        os.environ["KERAS_BACKEND"] = requested  # for Keras, and the processes a search starts
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    captured = _Records()
    logging.getLogger("polykeras").addHandler(captured)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import polykeras  # noqa: F401 (the library, on its backend: TensorFlow only for tensorflow)
            except ImportError as e:
                if type(e).__name__ != "BackendUnavailable":
                    raise
                raise UsageError(str(e)) from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        logging.getLogger("polykeras").removeHandler(captured)
    for record in captured.records:
        logging.getLogger("polykeras").handle(record)
    os.environ["KERAS_BACKEND"] = sys.modules["keras"].backend.backend()
    return os.environ["KERAS_BACKEND"]


class _Records(logging.Handler):
    """Keeps the records logged while stderr is silenced, to show them after."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


FLAGS = {"runs_dir": "--log-dir", "source": "--data", "task": "task", "logdir": "--logdir"}


def as_flags(error):
    """A library error's message in the command line's words: `max_trials must be an integer >= 1. Received:
    max_trials=0` reads `--max-trials must be an integer >= 1. Received: 0`.

    Only errors that name their parameter (`.parameter`) are changed: every mention of it becomes its flag
    (`FLAGS`, else `--` and the name with dashes). Their advice in Python's words reads in the command line's
    too: `overwrite=True` as `--overwrite`, `project_name=NAME` as `--project-name NAME`.
    """
    message, parameter = str(error), getattr(error, "parameter", None)
    if not parameter:
        return message
    message = re.sub(
        r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)*)=(True|[A-Z]+)\b",
        lambda m: "--" + m.group(1).replace("_", "-") + ("" if m.group(2) == "True" else f" {m.group(2)}"),
        message,
    )
    flag = FLAGS.get(parameter, "--" + parameter.replace("_", "-"))
    head, marker, received = message.rpartition(f"Received: {parameter}=")
    if marker:
        try:
            value = ast.literal_eval(received)
            received = value if isinstance(value, str) else received
        except (ValueError, SyntaxError):
            pass
        message = f"{head}Received: {received}"
    return re.sub(rf"(?<![\w-]){re.escape(parameter)}(?![\w=])", flag, message)


class _CommandLineLog(logging.Handler):
    """The library's log as the command line shows it: INFO lines on stdout, `warning: ...` on stderr.

    Streams are looked up at each record, so that a redirected stdout (tests, `contextlib.redirect_stdout`) gets them.
    """

    def emit(self, record):
        warning = record.levelno >= logging.WARNING
        stream = sys.stderr if warning else sys.stdout
        print(f"{'warning: ' if warning else ''}{record.getMessage()}", file=stream, flush=True)


@contextlib.contextmanager
def _library_log_shown():
    """The library's log as the command line shows it, while the command runs; as it was afterwards."""
    logger = logging.getLogger("polykeras")
    handler, level, propagate = _CommandLineLog(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def main(argv=None):
    """Runs the command line; returns the exit code."""
    with _library_log_shown():
        return _main(argv)


def _main(argv):
    argv = _join_signed_values(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        args.command.check(args)  # before any backend is imported: bad input answers at once
        print(f"backend: {_load_backend(args.backend)}", flush=True)
        return args.command.run(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:
        # The library's own failures (polykeras.errors, imported by then); anything else is a bug
        # and keeps its traceback.
        errors = sys.modules.get("polykeras.errors")
        if errors is None or not isinstance(e, (errors.InvalidArgumentError, errors.RunError)):
            raise
        print(f"error: {as_flags(e)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, errors.InvalidArgumentError) else EXIT_FAILURE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
