"""The `polykeras` command line.

This module sits beside the `polykeras` package rather than inside it:
`import polykeras` registers the layers with Keras and so imports TensorFlow,
while `polykeras --help` must answer at once. Commands import what they need
when they run.

Every bad input ends with one line, `error: <what is wrong, with the value>`,
and exit code 2, before anything is trained or written. A run that fails
(diverges, collapses, loses a search process) ends with one `error:` line and
exit code 1; anything else is a bug and shows its traceback.

Example:

    polykeras fit-poly --degree 2 --true-coefficients 1,2,3 --json fit.json
"""

import argparse
import json
import os
import sys
import time

# Exit codes: 0 done; 1 the run failed (diverged, collapsed, a search process died) or a bug,
# with its traceback; 2 bad input, found before anything was trained or written.
EXIT_FAILURE = 1
EXIT_USAGE = 2
# Kept here, not imported from polykeras.models, so --help needs no TensorFlow.
MNIST_DEFAULTS = {"epochs": 60, "batch_size": 64}
# Options whose values may start with "-" (`--x-range -1,1`), which argparse
# would otherwise read as an option.
_SIGNED_LIST_OPTIONS = ("--x-range", "--true-coefficients")


class UsageError(Exception):
    """Bad input found by the command line itself."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _quiet_tensorflow():
    """Imports TensorFlow without its import-time log lines.

    `TF_CPP_MIN_LOG_LEVEL` silences most of them; a few (absl's
    initialisation notice, the CUDA probe) are written to file descriptor 2
    before TensorFlow reads it, so stderr is pointed at /dev/null for the
    import alone.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _progress():
    """Keras's verbosity: a live progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


# ----------------------------------------------------------------------------
# Output helpers


def _check_output_file(path, suffix=None, overwrite=True, option="--json"):
    """Fails early for an output file that cannot or must not be written."""
    if path is None:
        return
    if suffix and not path.endswith(suffix):
        raise UsageError(f"{option} must name a {suffix} file. Received: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{option} names a directory. Received: {path}")
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"{option} target exists; pass --overwrite to replace it. Received: {path}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{option} folder does not exist. Received: {path}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} folder is not writable. Received: {path}")


def _write_json(path, payload):
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
        print(f"json: {path}")


def _run_dir(log_dir, task, name, no_log):
    """A fresh run folder under `log_dir` (default `logs/<task>`); None with --no-log.

    Called after every other check, so a bad input leaves no folder behind.
    """
    from polykeras.runs import new_run_dir

    return None if no_log else new_run_dir(log_dir or os.path.join("logs", task), name)


def _format_table(headers, rows):
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _coefficient_table(result, true_coefficients=None):
    headers = ["term", "start", "learned", "least squares"]
    if true_coefficients is not None:
        headers.append("true")
    rows = []
    for k, (learned, lstsq) in enumerate(zip(result.coefficients, result.least_squares_coefficients)):
        row = [f"x^{k}", "0", f"{learned:.6g}", f"{lstsq:.6g}"]
        if true_coefficients is not None:
            row.append(f"{true_coefficients[k]:.6g}" if k < len(true_coefficients) else "0")
        rows.append(row)
    return _format_table(headers, rows)


# ----------------------------------------------------------------------------
# fit-poly and demo


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


def _add_fit_poly_arguments(p):
    data = p.add_argument_group("data (synthetic unless --csv)")
    data.add_argument("--csv", metavar="PATH", help="read x, y from a CSV file with a header row")
    data.add_argument("--x-column", default="x", help="CSV column of x (default: x)")
    data.add_argument("--y-column", default="y", help="CSV column of y (default: y)")
    data.add_argument("--true-coefficients", default="1,2,3", metavar="C0,C1,...",
                      help="synthetic y = c0 + c1 x + ... (default: 1,2,3)")
    data.add_argument("--noise", type=float, default=0.1, help="noise standard deviation (default: 0.1)")
    data.add_argument("--samples", type=int, default=100, help="number of points (default: 100)")
    data.add_argument("--x-range", default="-1,1", metavar="LOW,HIGH", help="x interval (default: -1,1)")
    data.add_argument("--seed", type=_seed, default=0, help="seed of the noise and of Keras (default: 0)")
    model = p.add_argument_group("model and training")
    model.add_argument("--degree", type=int, default=5, help="polynomial degree (default: 5, the seed's six coefficients)")
    model.add_argument("--basis", default="legendre", help="legendre (default), chebyshev or monomial")
    model.add_argument("--optimizer", default="sgd", help="any Keras optimizer name (default: sgd)")
    model.add_argument("--learning-rate", type=float, default=None,
                       help="default: 0.4 for legendre/chebyshev (orthonormalised), 0.01 for monomial")
    model.add_argument("--epochs", type=int, default=20, help="passes over the data (default: 20)")
    model.add_argument("--batch-size", type=int, default=None, help="points per step (default: all of them)")
    out = p.add_argument_group("output")
    _add_outputs(out, "fit-poly")
    out.add_argument("--plot", metavar="PATH.png", help="draw the coefficients' walk from 0 and the fit (matplotlib)")


def _poly_data(args):
    from polykeras import data

    if args.csv:
        return data.load_csv(args.csv, args.x_column, args.y_column), None
    true = data.parse_floats(args.true_coefficients, "--true-coefficients")
    x_range = data.parse_floats(args.x_range, "--x-range")
    if len(x_range) != 2:
        raise UsageError(f"--x-range must be two numbers LOW,HIGH. Received: --x-range={args.x_range}")
    return data.synthetic_polynomial(true, args.samples, args.noise, tuple(x_range), args.seed), true


def _fit_and_report(args, task="fit-poly"):
    """Validates, trains, prints the coefficient table; returns the result and its JSON."""
    from polykeras import models
    from polykeras.callbacks import CoefficientHistory, polynomial_logger

    (x, y), true = _poly_data(args)
    lr = args.learning_rate if args.learning_rate is not None else models.default_learning_rate(args.basis)
    models.check_polynomial_fit_args(x, y, args.degree, args.basis, args.optimizer, lr, args.epochs, args.batch_size)
    _check_output_file(args.save, ".keras", args.overwrite, "--save")
    _check_output_file(args.json)
    _check_output_file(args.plot, ".png", True, "--plot")
    run_dir = _run_dir(args.log_dir, task, f"{args.basis}-d{args.degree}", args.no_log)

    callbacks = []
    history = CoefficientHistory() if args.plot else None
    if run_dir:
        callbacks.append(polynomial_logger(run_dir, x, y, args.degree, args.epochs, args.batch_size))
    result = models.fit_polynomial(
        x, y, degree=args.degree, basis=args.basis, optimizer=args.optimizer, learning_rate=lr,
        epochs=args.epochs, batch_size=args.batch_size, callbacks=callbacks + ([history] if history else []),
        verbose=_progress(), seed=args.seed,
    )
    for callback in callbacks:
        callback.wait()  # the logs are on disk before their path is printed
    print()
    print(_coefficient_table(result, true))
    print(
        f"\nrelative coefficient gap to least squares: {result.relative_coefficient_gap:.3g}"
        f"\nmse: {result.mse:.6g} (least squares: {result.least_squares_mse:.6g})"
        f"\n{result.epochs} epochs ({result.epochs // result.passes_per_keras_epoch} Keras epochs of "
        f"{result.passes_per_keras_epoch}) with {args.optimizer} at learning rate {lr:g}: "
        f"{result.train_seconds:.3f} s"
    )
    payload = {**result.as_json(), "degree": args.degree, "basis": args.basis,
               "optimizer": args.optimizer, "learning_rate": lr, "log_dir": run_dir}
    if true is not None:
        payload["true_coefficients"] = true
    if args.save:
        result.model.save(args.save)
        print(f"model: {args.save}")
    if history:
        from polykeras.plots import plot_polynomial_fit

        print(f"plot: {plot_polynomial_fit(args.plot, history, x, y, result, true)}")
    if run_dir:
        print(f"logs: {run_dir}  (view with: polykeras tensorboard --logdir {os.path.dirname(run_dir)})")
    return result, payload


def cmd_fit_poly(args):
    _, payload = _fit_and_report(args)
    _write_json(args.json, payload)
    return 0


def cmd_demo(args):
    """The seed's problem end to end: its own recipe, then polykeras's default."""
    base = ["--log-dir", os.path.join(args.log_dir or "logs", "demo")]
    steps = [
        ("1. The seed program's recipe: raw monomials, SGD at 0.01, 1000 epochs from zeros",
         ["--basis", "monomial", "--learning-rate", "0.01", "--epochs", "1000"]),
        ("2. polykeras's default: Legendre basis orthonormalised on the data, SGD at 0.4, 20 epochs",
         []),
    ]
    parser = build_parser()
    summary = []
    for title, extra in steps:
        print(f"\n== {title}\n")
        result, payload = _fit_and_report(parser.parse_args(["fit-poly", *base, *extra]), task="demo")
        summary.append((title.split(":")[0], result))
    print("\n== Summary: y = 1 + 2x + 3x^2 + noise, 100 points on [-1, 1], six coefficients starting at 0")
    print(_format_table(
        ["run", "epochs", "gap to least squares", "seconds"],
        [[name, r.epochs, f"{r.relative_coefficient_gap:.2g}", f"{r.train_seconds:.2f}"] for name, r in summary],
    ))
    print("\nThe optimizer, not the initial value, moves the coefficients; how fast depends on the basis.")
    _demo_symmetry()
    return 0


def _demo_symmetry():
    """Zeros are fine for the polynomial, not for a network: measured on real digits."""
    from polykeras import data, models

    print("\n== 3. Zero initialisation: fine for the polynomial, fatal for a network")
    print("The polynomial is linear in its coefficients, so each gets its own gradient from zero. In an MLP")
    print("started at zero every hidden unit computes the same thing and gets the same (here zero) gradient.\n")
    *digits, source = data.load_mnist("sample")
    rows = []
    for init in ("zeros", "glorot_uniform"):
        result = models.train_mnist(digits, epochs=3, hidden=(64, 64), augment=False, init=init)
        report = result.hidden_units
        rows.append([init, " / ".join(f"{r['distinct_units']} of {r['units']}" for r in report),
                     " / ".join(f"{r['kernel_gradient_norm']:.3g}" for r in report),
                     f"{100 * result.test_accuracy:.1f} %"])
    print(_format_table(["init", "distinct hidden units", "hidden kernel gradient norm",
                         f"test accuracy ({source}, 3 epochs)"], rows))
    print("\nNext: polykeras train-mnist (try --init zeros), polykeras tensorboard --logdir logs,")
    print("      polykeras tune mnist --data sample (KerasTuner's learning-rate search)")


# ----------------------------------------------------------------------------
# MNIST: train-mnist, evaluate, predict, inspect


def _parse_hidden(text):
    try:
        hidden = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--hidden must be comma-separated unit counts such as 512,512. Received: {text!r}") from None
    if not hidden or min(hidden) <= 0:
        raise UsageError(f"--hidden must be positive unit counts such as 512,512. Received: {text!r}")
    return hidden


def _symmetry_table(report):
    return _format_table(
        ["hidden layer", "units", "distinct units", "kernel gradient norm"],
        [[r["layer"], r["units"], r["distinct_units"], f"{r['kernel_gradient_norm']:.3g}"] for r in report],
    )


def cmd_train_mnist(args):
    from polykeras import data, models
    from polykeras.callbacks import mnist_logger
    from polykeras.errors import LossBecameNaN, TrainingCollapsed
    from polykeras.runs import TrainingRun

    hidden = _parse_hidden(args.hidden)
    models.mnist_mlp(hidden, args.dropout, args.init, augment=False)  # validates the architecture
    models.check_positive_int(args.epochs, "epochs")
    models.check_positive_int(args.batch_size, "batch_size")
    models.check_learning_rate(args.learning_rate)
    _check_output_file(args.save, ".keras", args.overwrite, "--save")
    _check_output_file(args.json)
    (x_train, y_train), (x_test, y_test), source = data.load_mnist(args.data)

    # The same arguments are the same run: a killed one is resumed, a live one refused.
    settings = [args.data, args.epochs, args.batch_size, args.learning_rate, hidden, args.dropout,
                args.no_augment, args.init, args.seed]
    run = TrainingRun.open(args.log_dir or os.path.join("logs", "train-mnist"),
                           f"mlp-{'x'.join(map(str, hidden))}-{args.init}", settings, log=not args.no_log)
    run_dir = run.log_dir
    callbacks = []
    if run_dir:
        callbacks.append(mnist_logger(run_dir, x_train, y_train))

    print(f"data: {source}, {len(x_train)} training and {len(x_test)} test images")
    try:
        result = models.train_mnist(
            ((x_train, y_train), (x_test, y_test)), epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, hidden=hidden, dropout=args.dropout, augment=not args.no_augment,
            init=args.init, callbacks=callbacks, backup_dir=run.backup_dir, verbose=_progress(), seed=args.seed,
        )
    except (LossBecameNaN, TrainingCollapsed) as e:
        if args.save:
            e.model.save(args.save)
            print(f"model ({'last good epoch' if isinstance(e, LossBecameNaN) else 'collapsed'}): {args.save}")
        raise
    finally:
        run.close()
        for callback in callbacks:
            callback.wait()  # the logs are on disk before their path is printed
    report = result.hidden_units
    print()
    print(_format_table(
        ["data", "epochs", "train seconds", "samples/s", "test accuracy"],
        [[source, result.epochs, f"{result.train_seconds:.1f}", f"{result.samples_per_second:,.0f}",
          f"{100 * result.test_accuracy:.2f} %"]],
    ))
    print()
    print(_symmetry_table(report))
    if any(r["distinct_units"] == 1 for r in report):
        print(f"\nsymmetry: with --init {args.init} every hidden unit of a layer is identical and no gradient "
              f"reaches the hidden kernels, so the network learns only the class frequencies: test accuracy "
              f"{100 * result.test_accuracy:.1f} % against 10 % chance. Random initialisation breaks the symmetry.")
    payload = {"test_accuracy": result.test_accuracy, "train_seconds": result.train_seconds,
               "samples_per_second": result.samples_per_second, "epochs": result.epochs, "data_source": source,
               "hidden_units": report, "log_dir": run_dir}
    if args.save:
        result.model.save(args.save)
        print(f"model: {args.save}")
    if run_dir:
        print(f"logs: {run_dir}  (view with: polykeras tensorboard --logdir {os.path.dirname(run_dir)})")
    _write_json(args.json, payload)
    return 0


def _load_model(path):
    """Loads a `.keras` model with safe_mode=True, or fails with one line."""
    import zipfile

    if not os.path.isfile(path):
        raise UsageError(f"model file not found. Received: {path}")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise UsageError(f"not a .keras model file. Received: {path}")
    import keras

    import polykeras  # noqa: F401  (registers polykeras's layers)

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many types for a bad archive.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot load {path} with safe_mode=True: {first}") from None


def _load_digit_model(path):
    """A saved model that maps 28x28 images to 10 digit probabilities."""
    model = _load_model(path)
    try:  # a subclassed model (the polynomial's) has no declared shapes
        shapes = f"input {model.input_shape}, output {model.output_shape}"
        fits = tuple(model.input_shape[1:]) == (28, 28) and model.output_shape[-1] == 10
    except (AttributeError, ValueError):
        shapes, fits = f"a {type(model).__name__}", False
    if not fits:
        raise UsageError(f"{path} is not a digit classifier (28x28 images to 10 classes). Received: {shapes}")
    return model


def cmd_evaluate(args):
    from polykeras import data, models

    _check_output_file(args.json)
    model = _load_digit_model(args.model)
    _, (x_test, y_test), source = data.load_mnist(args.data)
    acc = models.accuracy(model, x_test, y_test)
    print(f"accuracy: {100 * acc:.2f} % on {len(x_test)} test images ({source})")
    _write_json(args.json, {"accuracy": acc, "test_images": len(x_test), "data_source": source})
    return 0


def _read_digit(path):
    """A PNG/JPEG of any size as a 28x28 uint8 digit, light on dark like MNIST."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L").resize((28, 28), Image.Resampling.LANCZOS), dtype=np.uint8)
    except FileNotFoundError:
        raise UsageError(f"image not found. Received: {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as e:
        raise UsageError(f"not a readable image. Received: {path} ({type(e).__name__})") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 255 - gray if border.mean() > 127 else gray  # dark ink on light paper


def cmd_predict(args):
    import numpy as np

    _check_output_file(args.json)
    images = np.stack([_read_digit(p) for p in args.images])
    model = _load_digit_model(args.model)
    probabilities = model.predict(images, verbose=0)
    rows = [[p, int(np.argmax(q)), f"{float(np.max(q)):.3f}"] for p, q in zip(args.images, probabilities)]
    print(_format_table(["image", "digit", "probability"], rows))
    _write_json(args.json, [{"image": r[0], "digit": r[1], "probability": float(r[2])} for r in rows])
    return 0


def cmd_inspect(args):
    import numpy as np

    model = _load_model(args.model)
    rows, totals = [], {True: 0, False: 0}
    for v in model.weights:
        size = int(np.prod(v.shape))
        totals[v.trainable] += size
        rows.append([v.path, "x".join(map(str, v.shape)) or "scalar", f"{size:,}", "yes" if v.trainable else "no"])
    print(f"model: {model.name} ({type(model).__name__})")
    print(_format_table(["variable", "shape", "size", "trainable"], rows))
    print(f"\ntrainable: {totals[True]:,}  non-trainable: {totals[False]:,}  total: {sum(totals.values()):,}")
    return 0


# ----------------------------------------------------------------------------
# tensorboard


def cmd_tensorboard(args):
    """Runs the real TensorBoard on 127.0.0.1 until interrupted."""
    if not os.path.isdir(args.logdir):
        raise UsageError(f"--logdir is not a folder. Received: {args.logdir}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535. Received: {args.port}")
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", args.logdir, "--host", "127.0.0.1", "--port", str(args.port),
                          "--reload_interval", str(args.reload_interval),
                          # In-process loading: no separate data-server process to look after.
                          "--load_fast", "false"])
    try:
        url = board.launch()
    except program.TensorBoardPortInUseError:
        raise UsageError(f"--port is in use. Received: {args.port}") from None
    except program.TensorBoardServerException as e:
        raise UsageError(f"TensorBoard cannot serve on 127.0.0.1:{args.port}: {e}") from None
    print(f"TensorBoard {url}  (logs: {os.path.abspath(args.logdir)}; Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


# ----------------------------------------------------------------------------
# tune and lr-find

MAX_WORKER_RESTARTS = 3
TUNE_DEFAULTS = {"max_epochs": {"poly": 20, "mnist": 9}}


def _task_data(args):
    """The data of a tuning task: the seed's polynomial, or MNIST from --data."""
    from polykeras import data

    if args.task == "poly":
        return data.synthetic_polynomial([1, 2, 3], samples=200, noise=0.1, seed=args.seed)
    *digits, _ = data.load_mnist(args.data)
    return digits


def _hypermodel(args, task_data, lr_range):
    from polykeras import tuning

    optimizers = args.optimizers.split(",") if args.optimizers else None
    grid = args.tuner == "grid"
    if args.task == "poly":
        return tuning.PolynomialHyperModel(*task_data, lr_range=lr_range, optimizers=optimizers, grid=grid)
    return tuning.MnistHyperModel(task_data, args.max_epochs, lr_range=lr_range, optimizers=optimizers, grid=grid)


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _check_port_free(port):
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise UsageError(f"--port is in use. Received: {port}") from None


def _lr_range_from_test(args, task_data):
    """Runs the LR range test and centres the search on its suggestion (a decade each side)."""
    from polykeras import tuning

    _, _, suggestion = tuning.lr_find(args.task, task_data, seed=args.seed)
    low, high = tuning.LEARNING_RATE_RANGES[args.task]
    centre = min(max(suggestion, low), high)  # a suggestion outside the task's range is clipped to it
    centred = (max(low, centre / 10), min(high, centre * 10))
    print(f"lr-find suggests {suggestion:.3g}; searching {centred[0]:.3g} to {centred[1]:.3g}")
    return centred


def cmd_tune(args):
    if args.max_trials <= 0:
        raise UsageError(f"--max-trials must be > 0. Received: {args.max_trials}")
    if args.max_epochs is None:
        args.max_epochs = TUNE_DEFAULTS["max_epochs"][args.task]
    if args.max_epochs <= 0:
        raise UsageError(f"--max-epochs must be > 0. Received: {args.max_epochs}")
    if args.workers < 0:
        raise UsageError(f"--workers must be >= 0. Received: {args.workers}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535. Received: {args.port}")
    _check_output_file(args.save, ".keras", args.overwrite_save, "--save")
    _check_output_file(args.json)
    from polykeras import models

    for name in (args.optimizers or "sgd").split(","):
        models.make_optimizer(name, 1e-3)  # an unknown name fails here, not in every trial
    task_data = _task_data(args)
    directory = args.directory or os.path.join("logs", "tune")
    project = args.project_name or args.task
    try:
        os.makedirs(os.path.join(directory, project), exist_ok=True)
    except OSError as e:
        raise UsageError(f"--directory cannot be written ({e.strerror}). Received: {directory}") from None
    if args.workers and "KERASTUNER_TUNER_ID" not in os.environ:
        return _launch_distributed(args, directory, project)

    from polykeras import tuning
    from polykeras.callbacks import TensorBoard

    lr_range = _lr_range_from_test(args, task_data) if args.from_lr_find else None
    hypermodel = _hypermodel(args, task_data, lr_range)
    tuner = tuning.make_tuner(args.tuner, hypermodel, max_trials=args.max_trials, max_epochs=args.max_epochs,
                              directory=directory, project_name=project, overwrite=args.overwrite, seed=args.seed)
    board_dir = os.path.join(directory, project, "tensorboard")
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        tuning.write_hparams_config(board_dir, hypermodel)
    start = time.perf_counter()
    tuner.search(epochs=args.max_epochs, callbacks=[TensorBoard(board_dir, histogram_freq=0, image_freq=0)],
                 verbose=_progress() if args.verbose else 0)
    if "KERASTUNER_TUNER_ID" in os.environ:  # a chief or worker of a distributed search
        return 0
    return _report_search(args, tuner, hypermodel, board_dir, time.perf_counter() - start)


def _report_search(args, tuner, hypermodel, board_dir, seconds):
    from polykeras import tuning

    rows = tuning.trial_rows(tuner, args.max_epochs)
    objective = tuner.oracle.objective.name
    print(_format_table(
        ["trial", "learning rate", *(["optimizer"] if hypermodel.optimizers[1:] else []), objective, "epochs", "status"],
        [[t, f"{hp['learning_rate']:.3g}", *([hp.get("optimizer", "")] if hypermodel.optimizers[1:] else []),
          "-" if score is None else f"{score:.5g}", epochs, status] for t, hp, score, epochs, status in rows],
    ))
    best = tuner.get_best_hyperparameters(1)[0].values
    best = {k: v for k, v in best.items() if not k.startswith("tuner/")}
    best_score = next((r[2] for r in rows if r[2] is not None), None)
    shown = "-" if best_score is None else f"{best_score:.5g}"
    print(f"\nbest: {best} with {objective} {shown}; {len(rows)} trials, "
          f"{tuning.trained_epochs(tuner, args.max_epochs)} epochs trained, {seconds:.1f} s")
    print(f"logs: {board_dir}  (view with: polykeras tensorboard --logdir {board_dir})")
    payload = {"best_hyperparameters": best, "best_score": None if best_score is None else float(best_score),
               "objective": objective, "tuner": args.tuner, "search_seconds": seconds,
               "trained_epochs": tuning.trained_epochs(tuner, args.max_epochs),
               "trials": [{"trial_id": t, "hyperparameters": hp, "score": None if sc is None else float(sc),
                           "epochs": ep, "status": st} for t, hp, sc, ep, st in rows]}
    if args.save:
        model = hypermodel.build(tuner.get_best_hyperparameters(1)[0])
        hypermodel.fit(None, model, epochs=args.max_epochs, verbose=0)
        model.save(args.save)
        print(f"model (best, retrained for {args.max_epochs} epochs): {args.save}")
    _write_json(args.json, payload)
    return 0


def _launch_distributed(args, directory, project):
    """Runs a chief and `--workers` workers on 127.0.0.1 with KerasTuner's distributed mode.

    A worker that dies is started again under the same tuner id, so the oracle
    hands it back its unfinished trial; after MAX_WORKER_RESTARTS the search
    fails. Every process started here is stopped by its PID before returning.
    """
    import shutil
    import socket
    import subprocess

    from polykeras.errors import RunError

    port = args.port or _free_port()
    _check_port_free(port)
    if args.overwrite:
        shutil.rmtree(os.path.join(directory, project), ignore_errors=True)
        os.makedirs(os.path.join(directory, project))
    logs = os.path.join(directory, project, "processes")
    os.makedirs(logs, exist_ok=True)
    child = [sys.executable, "-m", "polykeras_cli", "tune", args.task, "--tuner", args.tuner,
             "--max-trials", str(args.max_trials), "--max-epochs", str(args.max_epochs),
             "--directory", directory, "--project-name", project, "--data", args.data, "--seed", str(args.seed),
             *(["--optimizers", args.optimizers] if args.optimizers else []),
             *(["--from-lr-find"] if args.from_lr_find else [])]
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = {}

    def start(tuner_id):
        with open(os.path.join(logs, f"{tuner_id}.log"), "a", encoding="utf-8") as log:
            processes[tuner_id] = subprocess.Popen(child, env={**env, "KERASTUNER_TUNER_ID": tuner_id},
                                                   stdout=log, stderr=subprocess.STDOUT)
        print(f"{tuner_id}: pid {processes[tuner_id].pid}", flush=True)

    start_time = time.perf_counter()
    try:
        start("chief")
        deadline = time.monotonic() + 120
        while True:
            if processes["chief"].poll() is not None:
                raise RunError(f"the chief exited with code {processes['chief'].returncode}; see {logs}/chief.log")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RunError(f"the chief did not listen on 127.0.0.1:{port} within 120 s")
            time.sleep(0.2)
        workers = [f"tuner{i}" for i in range(args.workers)]
        restarts = dict.fromkeys(workers, 0)
        for tuner_id in workers:
            start(tuner_id)
        finished = set()
        while len(finished) < len(workers):
            time.sleep(0.2)
            if processes["chief"].poll() is not None and processes["chief"].returncode != 0:
                raise RunError(f"the chief exited with code {processes['chief'].returncode}; see {logs}/chief.log")
            for tuner_id in workers:
                code = processes[tuner_id].poll()
                if code is None or tuner_id in finished:
                    continue
                if code == 0:
                    finished.add(tuner_id)
                elif restarts[tuner_id] < MAX_WORKER_RESTARTS:
                    restarts[tuner_id] += 1
                    print(f"{tuner_id} exited with code {code}; starting it again as {tuner_id} "
                          f"(restart {restarts[tuner_id]} of {MAX_WORKER_RESTARTS}), its trial continues", flush=True)
                    start(tuner_id)
                else:
                    raise RunError(f"{tuner_id} failed {MAX_WORKER_RESTARTS + 1} times (last exit code {code}); "
                                     f"search stopped, see {logs}/{tuner_id}.log")
        # Every trial is reported and saved by now; the chief only polls (every 20 s) before it exits.
        try:
            processes["chief"].wait(timeout=2)
        except subprocess.TimeoutExpired:
            processes["chief"].terminate()
            processes["chief"].wait(timeout=30)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.perf_counter() - start_time

    from polykeras import tuning

    hypermodel = _hypermodel(args, _task_data(args), None)
    if args.from_lr_find:  # the same centred range the processes searched
        with open(os.path.join(directory, project, tuning.SPACE_FILE), encoding="utf-8") as f:
            hypermodel.lr_range = tuple(json.load(f)["learning_rate"])
    tuner = tuning.make_tuner(args.tuner, hypermodel, max_trials=args.max_trials, max_epochs=args.max_epochs,
                              directory=directory, project_name=project, overwrite=False, seed=args.seed)
    print(f"{args.workers} workers finished; process logs: {logs}")
    return _report_search(args, tuner, hypermodel, os.path.join(directory, project, "tensorboard"), seconds)


def cmd_lr_find(args):
    from polykeras import tuning
    from polykeras.callbacks import EventWriter, image_summary, scalar_value

    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2. Received: {args.steps}")
    _check_output_file(args.plot, ".png", True, "--plot")
    _check_output_file(args.json)
    task_data = _task_data(args)
    run_dir = _run_dir(args.log_dir, "lr-find", args.task, args.no_log)
    rates, losses, suggestion = tuning.lr_find(args.task, task_data, steps=args.steps, seed=args.seed)
    smoothed = tuning.smooth(losses)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    axes.plot(rates, losses, color="0.7", linewidth=1, label="loss per step")
    axes.plot(rates, smoothed, color="C0", linewidth=2, label="smoothed")
    axes.axvline(suggestion, color="C3", linestyle="--", label=f"suggestion {suggestion:.2g}")
    axes.set(xscale="log", yscale="log" if args.task == "poly" else "linear", xlabel="learning rate",
             ylabel="loss", title=f"learning-rate range test ({args.task})")
    axes.set_ylim(top=float(np.nanmax(smoothed[: max(1, len(smoothed) - 1)])) * 1.5)
    axes.legend()
    plot = args.plot or (os.path.join(run_dir, "lr_find.png") if run_dir else None)
    if plot:
        figure.savefig(plot, dpi=110)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    if run_dir:
        with EventWriter(os.path.join(run_dir, "train")) as writer:
            for step, (rate, loss, smooth_loss) in enumerate(zip(rates, losses, smoothed)):
                writer.write([scalar_value("lr_find/learning_rate", rate), scalar_value("lr_find/loss", loss),
                              scalar_value("lr_find/smoothed_loss", smooth_loss)], step)
            writer.write([image_summary("lr_find/loss_vs_rate", pixels)], len(rates))
    print(f"suggested learning rate: {suggestion:.3g} (a tenth of the rate with the lowest smoothed loss, "
          f"{len(rates)} rates from {rates[0]:.2g} to {rates[-1]:.2g})")
    if plot:
        print(f"plot: {plot}")
    if run_dir:
        print(f"logs: {run_dir}  (view with: polykeras tensorboard --logdir {os.path.dirname(run_dir)})")
    _write_json(args.json, {"suggested_learning_rate": suggestion, "learning_rates": rates.tolist(),
                            "losses": losses.tolist()})
    return 0


# ----------------------------------------------------------------------------
# Parser and entry point


def build_parser():
    parser = _Parser(
        prog="polykeras",
        description="Watch weights learn with Keras 3: a polynomial layer that starts at zero, "
        "an MNIST MLP, TensorBoard logging and KerasTuner learning-rate search.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fit = sub.add_parser("fit-poly", help="learn polynomial coefficients from zeros with compile/fit",
                         description="Learn polynomial coefficients from zeros with compile/fit and compare "
                         "them with float64 least squares.")
    _add_fit_poly_arguments(fit)
    fit.set_defaults(func=cmd_fit_poly)
    demo = sub.add_parser("demo", help="the seed's problem end to end (what `make demo` runs)")
    demo.add_argument("--log-dir", metavar="DIR", help="root of the demo's logs (default: logs)")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train-mnist", help="train the MNIST MLP with compile/fit",
                           description="Train the MNIST MLP with compile/fit; a killed run started again with "
                           "the same arguments resumes from its last finished epoch.")
    train.add_argument("--data", default="auto", help="auto (default), keras, sample, or PATH.npz with Keras's keys")
    train.add_argument("--epochs", type=int, default=MNIST_DEFAULTS["epochs"], help="passes over the training images (default: 60)")
    train.add_argument("--batch-size", type=int, default=MNIST_DEFAULTS["batch_size"], help="images per step (default: 64)")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's initial rate, cosine-decayed (default: 0.001)")
    train.add_argument("--hidden", default="512,512", help="hidden layer sizes (default: 512,512)")
    train.add_argument("--dropout", type=float, default=0.2, help="dropout after each hidden layer (default: 0.2)")
    train.add_argument("--no-augment", action="store_true", help="train without random shifts, rotations and zooms")
    train.add_argument("--init", default="glorot_uniform", help="Keras initializer of the kernels, e.g. zeros")
    train.add_argument("--seed", type=_seed, default=0, help="seed (default: 0)")
    _add_outputs(train, "train-mnist")
    train.set_defaults(func=cmd_train_mnist)

    evaluate = sub.add_parser("evaluate", help="accuracy of a saved model on MNIST's test part")
    evaluate.add_argument("model", help="a .keras model")
    evaluate.add_argument("--data", default="auto", help="auto (default), keras, sample or PATH.npz")
    evaluate.add_argument("--json", metavar="PATH", help="write {accuracy, ...} as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser("predict", help="the digit in each PNG/JPEG image")
    predict.add_argument("model", help="a .keras model")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files of any size")
    predict.add_argument("--json", metavar="PATH", help="write the predictions as JSON")
    predict.set_defaults(func=cmd_predict)

    inspect = sub.add_parser("inspect", help="every variable of a saved model: path, shape, trainable")
    inspect.add_argument("model", help="a .keras model")
    inspect.set_defaults(func=cmd_inspect)

    tune = sub.add_parser("tune", help="search the learning rate with KerasTuner",
                          description="Search the learning rate with KerasTuner; running the same command again "
                          "continues the search. --workers N spreads it over N processes with KerasTuner's "
                          "distributed mode.")
    tune.add_argument("task", choices=["poly", "mnist"], help="what to tune")
    tune.add_argument("--tuner", choices=["hyperband", "random", "bayesian", "grid"], default="hyperband",
                      help="search algorithm (default: hyperband)")
    tune.add_argument("--max-trials", type=int, default=10, help="trials for random/bayesian/grid (default: 10)")
    tune.add_argument("--max-epochs", type=int, default=None, help="epochs per trial at most (default: 20 poly, 9 mnist)")
    tune.add_argument("--directory", help="where searches live (default: logs/tune)")
    tune.add_argument("--project-name", help="the search's folder in --directory (default: the task)")
    tune.add_argument("--overwrite", action="store_true", help="start the project again from scratch")
    tune.add_argument("--data", default="auto", help="MNIST data, as train-mnist's --data (default: auto)")
    tune.add_argument("--optimizers", help="also search over these optimizers, e.g. adam,sgd")
    tune.add_argument("--from-lr-find", action="store_true", help="centre the search on the LR range test's suggestion")
    tune.add_argument("--workers", type=int, default=0, help="worker processes on 127.0.0.1 (default: 0, in-process)")
    tune.add_argument("--port", type=int, default=0, help="the chief's port with --workers (default: a free one)")
    tune.add_argument("--seed", type=_seed, default=0, help="seed (default: 0)")
    tune.add_argument("--save", metavar="PATH.keras", help="retrain the best and save it")
    tune.add_argument("--overwrite-save", action="store_true", help="allow --save to replace an existing file")
    _add_outputs(tune, "tune", save=False, log=False)
    tune.add_argument("--verbose", action="store_true", help="show Keras's progress bars for every trial")
    tune.set_defaults(func=cmd_tune)

    find = sub.add_parser("lr-find", help="learning-rate range test: sweep the rate, plot the loss, suggest one")
    find.add_argument("task", choices=["poly", "mnist"], help="what to test")
    find.add_argument("--steps", type=int, default=100, help="learning rates tried (default: 100)")
    find.add_argument("--data", default="auto", help="MNIST data, as train-mnist's --data (default: auto)")
    find.add_argument("--seed", type=_seed, default=0, help="seed (default: 0)")
    find.add_argument("--plot", metavar="PATH.png", help="where to draw loss against rate (default: in the run's logs)")
    _add_outputs(find, "lr-find", save=False)
    find.set_defaults(func=cmd_lr_find)

    board = sub.add_parser("tensorboard", help="serve the logs with TensorBoard on 127.0.0.1")
    board.add_argument("--logdir", default="logs", help="folder of runs (default: logs)")
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


def main(argv=None):
    """Runs the command line; returns the exit code."""
    argv = _join_signed_values(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        _quiet_tensorflow()
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
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, errors.InvalidArgumentError) else EXIT_FAILURE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
