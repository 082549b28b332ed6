"""The `polykeras` command line: it parses, calls the library, and prints.

This package sits beside `polykeras` rather than inside it: `import polykeras`
registers the layers with Keras and so imports a backend (TensorFlow by
default), while `polykeras --help` must answer at once. Commands import what
they need when they run.

The backend is the one Keras picks (`KERAS_BACKEND`, else `~/.keras/keras.json`,
else TensorFlow) unless `--backend jax` or `--backend torch` says otherwise;
every command prints it and writes it to its JSON.

Exit codes: 0 done; 1 the run failed (diverged, collapsed, the same run in
progress, a search process died), with one `error:` line, or a bug, with its
traceback; 2 bad input (`error: <what is wrong, with the value>`), found
before anything is trained or written.

Example:

    polykeras fit-poly --degree 2 --true-coefficients 1,2,3 --json fit.json
"""

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
import time

from polykeras_cli import mnist, poly, tune
from polykeras_cli.mnist import MNIST_DEFAULTS  # noqa: F401  (a test checks them against the library)
from polykeras_cli.output import UsageError

EXIT_FAILURE = 1
EXIT_USAGE = 2
# Options whose values may start with "-" (`--x-range -1,1`), which argparse
# would otherwise read as an option.
_SIGNED_LIST_OPTIONS = ("--x-range", "--true-coefficients")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


BACKENDS = ("tensorflow", "jax", "torch")
EXTRAS = "pip install 'polykeras[tensorflow]', 'polykeras[jax]' or 'polykeras[torch]'"


def _configured_backend():
    """`(backend, where it was chosen)` as Keras will choose it: `KERAS_BACKEND`, else `keras.json`, else TensorFlow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND={}"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            chosen = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        chosen = None
    if chosen:
        return chosen, f"{os.path.join(home, 'keras.json')} (backend {{}})"
    return "tensorflow", "Keras's default backend, {}"


def _load_backend(requested):
    """Selects the Keras backend (`--backend`, else Keras's own choice) and imports it quietly.

    A backend polykeras does not run on, or one that is not installed, is bad
    input, named with the extras that install each. TensorFlow's import-time
    log lines (absl's initialisation notice, the CUDA probe) are written to
    file descriptor 2 before it reads `TF_CPP_MIN_LOG_LEVEL`, so stderr is
    pointed at /dev/null for the import alone. Returns the backend's name.
    """
    current = sys.modules["keras"].backend.backend() if "keras" in sys.modules else None
    if requested:
        if current not in (None, requested):
            raise UsageError(f"--backend cannot change the backend of a process where Keras runs on {current}. "
                             f"Received: --backend {requested}")
        backend, received = requested, "--backend {}"
    else:
        backend, received = (current, "{}") if current else _configured_backend()
    received = received.format(backend)
    if backend not in BACKENDS:
        raise UsageError(f"polykeras runs on the {', '.join(BACKENDS)} backends, installed by its extras: {EXTRAS}. "
                         f"Received: {received}")
    if current is None and importlib.util.find_spec(backend) is None:
        installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
        choose = f"; or choose one that is: --backend {' or '.join(installed)}" if installed else ""
        raise UsageError(f"the {backend} backend is not installed: pip install 'polykeras[{backend}]'{choose}. "
                         f"Received: {received}")
    os.environ["KERAS_BACKEND"] = backend  # for Keras, and the processes a search starts
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401  (imports the backend, TensorFlow only for tensorflow)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return backend


def _seed(text):
    """argparse type: a seed is an integer >= 0 (Keras refuses negative ones)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0. Received: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0. Received: {value}")
    return value


def _add_outputs(p, task, save=True, log=True):
    """The output options shared by the training commands."""
    if save:
        p.add_argument("--save", metavar="PATH.keras", help="save the trained model")
        p.add_argument("--overwrite", action="store_true", help="allow --save to replace an existing file")
    if log:
        p.add_argument("--log-dir", metavar="DIR", help=f"TensorBoard runs go to DIR/<run> (default: logs/{task})")
        p.add_argument("--no-log", action="store_true", help="write no TensorBoard logs")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")


def cmd_tensorboard(args):
    """Runs the real TensorBoard on 127.0.0.1 until interrupted."""
    from polykeras.dashboard import serve

    if args.folder and args.logdir and args.folder != args.logdir:
        raise UsageError(f"give the folder once, as LOGDIR or --logdir. Received: {args.folder} and --logdir {args.logdir}")
    args.logdir = args.folder or args.logdir or "logs"
    _, url = serve(args.logdir, args.port, args.reload_interval)
    print(f"TensorBoard {url}  (logs: {os.path.abspath(args.logdir)}; Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def build_parser():
    parser = _Parser(
        prog="polykeras",
        description="Watch weights learn with Keras 3: a polynomial layer that starts at zero, "
        "an MNIST MLP, TensorBoard logging and KerasTuner learning-rate search.",
    )
    parser.add_argument("--backend", choices=BACKENDS,
                        help="the Keras backend (default: KERAS_BACKEND, else keras.json's, else tensorflow)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fit = sub.add_parser("fit-poly", help="learn polynomial coefficients from zeros with compile/fit",
                         description="Learn polynomial coefficients from zeros with compile/fit and compare "
                         "them with float64 least squares.")
    poly.add_arguments(fit, _add_outputs, _seed)
    fit.set_defaults(func=poly.cmd_fit_poly)
    demo = sub.add_parser("demo", help="the seed's problem end to end (what `make demo` runs)")
    demo.add_argument("--log-dir", metavar="DIR", help="root of the demo's logs (default: logs)")
    demo.set_defaults(func=lambda args: poly.cmd_demo(args, build_parser()))

    train = sub.add_parser("train-mnist", help="train the MNIST MLP with compile/fit",
                           description="Train the MNIST MLP with compile/fit; a killed run started again with "
                           "the same arguments resumes from its last finished epoch.")
    mnist.add_train_arguments(train, _add_outputs, _seed)
    train.set_defaults(func=mnist.cmd_train_mnist)

    evaluate = sub.add_parser("evaluate", help="accuracy of a saved model on MNIST's test part")
    evaluate.add_argument("model", help="a .keras model")
    evaluate.add_argument("--data", default="auto", help="auto (default), keras, sample or PATH.npz")
    evaluate.add_argument("--json", metavar="PATH", help="write {accuracy, ...} as JSON")
    evaluate.set_defaults(func=mnist.cmd_evaluate)

    predict = sub.add_parser("predict", help="the digit in each PNG/JPEG image")
    predict.add_argument("model", help="a .keras model")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files of any size")
    predict.add_argument("--json", metavar="PATH", help="write the predictions as JSON")
    predict.set_defaults(func=mnist.cmd_predict)

    inspect = sub.add_parser("inspect", help="every variable of a saved model: path, shape, trainable")
    inspect.add_argument("model", help="a .keras model")
    inspect.set_defaults(func=mnist.cmd_inspect)

    search = sub.add_parser("tune", help="search the learning rate with KerasTuner",
                            description="Search the learning rate with KerasTuner; running the same command again "
                            "continues the search. --workers N spreads it over N processes with KerasTuner's "
                            "distributed mode.")
    tune.add_tune_arguments(search, _add_outputs, _seed)
    search.set_defaults(func=tune.cmd_tune)

    find = sub.add_parser("lr-find", help="learning-rate range test: sweep the rate, plot the loss, suggest one")
    tune.add_lr_find_arguments(find, _add_outputs, _seed)
    find.set_defaults(func=tune.cmd_lr_find)

    board = sub.add_parser("tensorboard", help="serve the logs with TensorBoard on 127.0.0.1")
    board.add_argument("folder", nargs="?", default=None, metavar="LOGDIR",
                       help="folder of runs, as `tensorboard --logdir` takes it (default: logs)")
    board.add_argument("--logdir", default=None, help="the same, as a flag")
    board.add_argument("--port", type=int, default=6006, help="port, 0 for any free one (default: 6006)")
    board.add_argument("--reload-interval", type=float, default=5.0, help="seconds between rescans (default: 5)")
    board.set_defaults(func=cmd_tensorboard)
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


# The library's parameters whose flags are not their names with dashes.
FLAGS = {"runs_dir": "--log-dir", "source": "--data", "task": "task"}


def as_flags(error):
    """A library error's message in the command line's words: `max_trials must be an integer >= 1. Received:
    max_trials=0` reads `--max-trials must be an integer >= 1. Received: 0`.

    Only errors that name their parameter (`.parameter`) are changed: every mention of it becomes its flag
    (`FLAGS`, else `--` and the name with dashes). Their advice in Python's words reads in the command line's
    too: `overwrite=True` as `--overwrite`, `project_name=NAME` as `--project-name NAME`.
    """
    import ast
    import re

    message, parameter = str(error), getattr(error, "parameter", None)
    if not parameter:
        return message
    message = re.sub(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)*)=(True|[A-Z]+)\b",
                     lambda m: "--" + m.group(1).replace("_", "-") + ("" if m.group(2) == "True" else f" {m.group(2)}"),
                     message)
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
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        print(f"backend: {_load_backend(args.backend)}", flush=True)
        return args.func(args)
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
