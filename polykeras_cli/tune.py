"""`polykeras tune`: KerasTuner's search of the learning rate, in this process or over worker processes."""

import argparse
import os

from polykeras_cli.arguments import add_outputs, add_seed
from polykeras_cli.checks import (
    OPTIMIZERS,
    UsageError,
    check_int,
    check_mnist_data,
    check_model_file,
    check_name,
    check_npz_file,
    check_number,
    check_output_file,
    check_writable_dir,
    logged_metrics,
)
from polykeras_cli.output import format_table, progress, write_json

# polykeras.search.tuners.TUNERS (a test checks that they agree).
TUNERS = ("hyperband", "random", "bayesian", "grid")
TASKS = ("poly", "mnist")
# The flags that apply to a saved model's search alone.
MODEL_FLAGS = ("batch_size", "validation_split", "objective")


def task_or_model(value):
    """argparse type: `poly`, `mnist`, or the path of a saved compiled model (`PATH.keras`)."""
    if value in TASKS or value.endswith(".keras"):
        return value
    raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from 'poly', 'mnist' or PATH.keras)")


def device_list(value):
    """argparse type: `0,1,3` as `["0", "1", "3"]`; an empty string as no accelerator at all."""
    devices = [d.strip() for d in value.split(",")] if value.strip() else []
    if any(not d for d in devices):
        raise argparse.ArgumentTypeError(f"invalid device list: {value!r} (comma-separated, e.g. 0,1)")
    return devices


def add_data_arguments(parser, what):
    """`--data`, for a task's MNIST source or a saved model's `.npz` arrays."""
    parser.add_argument(
        "--data",
        default=None,
        help="for mnist, its digits as train-mnist's --data takes them (default: auto); for PATH.keras, an .npz "
        f"with arrays x and y (several inputs: x_0, x_1, ...; or Keras's x_train, y_train){what}",
    )


def check_task_data(args, model_flags):
    """The data flags of a task, or of a saved model: a model's `--data` file, and flags that do not apply."""
    if args.task.endswith(".keras"):
        check_model_file(args.task)
        if args.data is None:
            raise UsageError(f"--data must name an .npz file of arrays for {args.task}. Received: no --data")
        check_npz_file(args.data)
        return
    given = [name for name in model_flags if getattr(args, name) is not None]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} applies to PATH.keras, not to {args.task}")
    if args.task == "poly" and args.data is not None:
        raise UsageError(f"--data applies to mnist and PATH.keras; poly makes its own. Received: --data {args.data}")
    if args.task == "mnist":
        check_mnist_data(args.data or "auto")


def add_arguments(parser):
    parser.add_argument(
        "task", type=task_or_model, metavar="task", help="what to tune: poly, mnist, or PATH.keras (a compiled model)"
    )
    parser.add_argument("--tuner", choices=TUNERS, default="hyperband", help="search algorithm (default: hyperband)")
    parser.add_argument("--max-trials", type=int, default=10, help="trials for random/bayesian/grid (default: 10)")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="epochs per trial at most (default: 20 poly, 9 mnist, 10 a model)"
    )
    parser.add_argument("--directory", help="where searches live (default: logs/tune)")
    parser.add_argument("--project-name", help="the search's folder in --directory (default: the task)")
    parser.add_argument("--overwrite", action="store_true", help="start the project again from scratch")
    add_data_arguments(parser, ", and x_val, y_val to validate on")
    parser.add_argument("--batch-size", type=int, default=None, help="for PATH.keras (default: 32)")
    parser.add_argument(
        "--validation-split", type=float, default=None, help="for PATH.keras without x_val: the share held out (0.2)"
    )
    parser.add_argument(
        "--objective", default=None, help="for PATH.keras: a metric its trials log, to optimise (default: val_loss)"
    )
    parser.add_argument("--optimizers", help="also search over these optimizers, e.g. adam,sgd")
    parser.add_argument(
        "--from-lr-find", action="store_true", help="centre the search on lr-find's (checked) suggestion"
    )
    parser.add_argument("--workers", type=int, default=0, help="worker processes on 127.0.0.1 (default: 0, in-process)")
    parser.add_argument("--port", type=int, default=0, help="the chief's port with --workers (default: a free one)")
    parser.add_argument(
        "--devices",
        type=device_list,
        default=None,
        metavar="0,1,...",
        help="with --workers, the accelerators to give them, round robin, as CUDA_VISIBLE_DEVICES names them; an "
        "empty string gives none (default: every visible one)",
    )
    parser.add_argument(
        "--chief-timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="a chief no worker calls for this long, with trials unfinished, stops with exit 1 (default: 1800)",
    )
    add_seed(parser)
    parser.add_argument("--save", metavar="PATH.keras", help="retrain the best and save it")
    parser.add_argument("--overwrite-save", action="store_true", help="allow --save to replace an existing file")
    add_outputs(parser, "tune", save=False, log=False)
    parser.add_argument("--verbose", action="store_true", help="show Keras's progress bars for every trial")


def check(args):
    check_task_data(args, MODEL_FLAGS)
    for name in ("max_trials", "max_epochs", "batch_size"):
        check_int(args, name)
    check_int(args, "workers", at_least=0)
    check_int(args, "port", at_least=0, at_most=65535)
    check_number(args, "validation_split", above=0, below=1)
    check_number(args, "chief_timeout", above=0)
    for name in args.optimizers.split(",") if args.optimizers else ():
        check_name(name, OPTIMIZERS, "Keras optimizer", "optimizer")
    if args.objective and args.task.endswith(".keras"):
        logged = logged_metrics(args.task)
        if logged is not None and args.objective not in [f"val_{name}" for name in logged] + logged:
            raise UsageError(
                f"--objective must be a metric the model logs: "
                f"{', '.join([f'val_{name}' for name in logged] + logged)}. Received: {args.objective}"
            )
    check_writable_dir(args.directory or os.path.join("logs", "tune"), "--directory")
    check_output_file(args.save, ".keras", args.overwrite_save, "--save", "--overwrite-save")
    check_output_file(args.json)


def print_trial(trial):
    """One line per finished trial, by KerasTuner's trial id (as the table names it):
    `trial 02 (3 of 10 done)  lr 2.1e-03  val_accuracy 0.9450  best 0.9517  41 s`."""
    hp = trial["hyperparameters"]
    score = "-" if trial["score"] is None else f"{trial['score']:.4f}"
    best = "-" if trial["best_score"] is None else f"{trial['best_score']:.4f}"
    optimizer = f"  {hp['optimizer']}" if "optimizer" in hp else ""
    print(
        f"trial {trial['trial_id']} ({trial['number']} of {trial['total']} done)  lr {hp['learning_rate']:.1e}"
        f"{optimizer}  {trial['objective']} {score}  best {best}  {trial['seconds']:.0f} s",
        flush=True,
    )


def _task_and_data(args):
    """`(model, x, y, options)` for `PATH.keras --data FILE.npz`; `(task, data, None, {})` for a task."""
    if not args.task.endswith(".keras"):
        return args.task, (args.data or "auto") if args.task == "mnist" else None, None, {}
    from polykeras.data import load_arrays
    from polykeras.saving import load_model

    model = load_model(args.task)
    x, y, validation = load_arrays(args.data)
    options = {"validation_data": validation, "batch_size": args.batch_size, "objective": args.objective}
    if validation is None:
        options["validation_split"] = args.validation_split
    return model, x, y, options


def run(args):
    from polykeras import search
    from polykeras.saving import save_model

    task, x, y, options = _task_and_data(args)
    result = search(
        task,
        x,
        y,
        tuner=args.tuner,
        max_trials=args.max_trials,
        max_epochs=args.max_epochs,
        directory=args.directory or os.path.join("logs", "tune"),
        project_name=args.project_name,
        overwrite=args.overwrite,
        workers=args.workers,
        from_lr_find=args.from_lr_find,
        optimizers=args.optimizers.split(",") if args.optimizers else None,
        seed=args.seed,
        port=args.port,
        devices=args.devices,
        on_trial_end=print_trial,
        verbose=progress() if args.verbose else 0,
        chief_timeout=args.chief_timeout,
        **options,
    )
    if result is None:  # a worker of a distributed search (KERASTUNER_TUNER_ID set)
        return 0
    searched_optimizers = any("optimizer" in t["hyperparameters"] for t in result.trials)
    print(
        format_table(
            [
                "trial",
                "learning rate",
                *(["optimizer"] if searched_optimizers else []),
                result.objective,
                "epochs",
                "status",
            ],
            [
                [
                    t["trial_id"],
                    f"{t['hyperparameters']['learning_rate']:.3g}",
                    *([t["hyperparameters"].get("optimizer", "")] if searched_optimizers else []),
                    "-" if t["score"] is None else f"{t['score']:.5g}",
                    t["epochs"],
                    t["status"],
                ]
                for t in result.trials
            ],
        )
    )
    print(
        f"\nbest: {result.best_hyperparameters} with {result.objective} {result.best_score:.5g}; "
        f"{len(result.trials)} trials, {result.trained_epochs} epochs trained, {result.seconds:.1f} s"
    )
    print(f"logs: {result.log_dir}  (view with: polykeras tensorboard --logdir {result.log_dir})")
    if args.save:
        save_model(result.best_model(), args.save)
        print(f"model (best, retrained for {result.max_epochs} epochs): {args.save}")
    write_json(args.json, {**result.as_json(), "tuner": args.tuner})
    return 0
