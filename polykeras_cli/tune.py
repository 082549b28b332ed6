"""`polykeras tune` and `polykeras lr-find`."""

import os

from polykeras_cli.output import UsageError, check_output_file, format_table, progress, runs_dir, write_json


def add_tune_arguments(tune, add_outputs, seed_type):
    tune.add_argument("task", type=_task_or_model, metavar="task",
                      help="what to tune: poly, mnist, or PATH.keras (a saved compiled model)")
    tune.add_argument("--tuner", choices=["hyperband", "random", "bayesian", "grid"], default="hyperband",
                      help="search algorithm (default: hyperband)")
    tune.add_argument("--max-trials", type=int, default=10, help="trials for random/bayesian/grid (default: 10)")
    tune.add_argument("--max-epochs", type=int, default=None,
                      help="epochs per trial at most (default: 20 poly, 9 mnist, 10 for a model)")
    tune.add_argument("--directory", help="where searches live (default: logs/tune)")
    tune.add_argument("--project-name", help="the search's folder in --directory (default: the task)")
    tune.add_argument("--overwrite", action="store_true", help="start the project again from scratch")
    tune.add_argument("--data", default="auto",
                      help="MNIST data, as train-mnist's --data (default: auto); for PATH.keras, an .npz with arrays "
                           "x and y (several inputs: x_0, x_1, ...), and x_val, y_val to validate on")
    tune.add_argument("--batch-size", type=int, default=None, help="for PATH.keras (default: 32)")
    tune.add_argument("--validation-split", type=float, default=None,
                      help="for PATH.keras without x_val: the share held out (default: 0.2)")
    tune.add_argument("--objective", default=None, help="for PATH.keras: what to optimise (default: val_loss)")
    tune.add_argument("--optimizers", help="also search over these optimizers, e.g. adam,sgd")
    tune.add_argument("--from-lr-find", action="store_true", help="centre the search on the LR range test's suggestion")
    tune.add_argument("--workers", type=int, default=0, help="worker processes on 127.0.0.1 (default: 0, in-process)")
    tune.add_argument("--port", type=int, default=0, help="the chief's port with --workers (default: a free one)")
    tune.add_argument("--devices", type=_device_list, default=None, metavar="0,1,...",
                      help="with --workers, the accelerators to give them, round robin, as CUDA_VISIBLE_DEVICES "
                           "names them; an empty string gives none (default: every visible one)")
    tune.add_argument("--chief-timeout", type=float, default=1800.0, metavar="SECONDS",
                      help="a chief no worker calls for this long, with trials unfinished, stops with exit 1 "
                           "(default: 1800)")
    tune.add_argument("--seed", type=seed_type, default=0, help="seed (default: 0)")
    tune.add_argument("--save", metavar="PATH.keras", help="retrain the best and save it")
    tune.add_argument("--overwrite-save", action="store_true", help="allow --save to replace an existing file")
    add_outputs(tune, "tune", save=False, log=False)
    tune.add_argument("--verbose", action="store_true", help="show Keras's progress bars for every trial")


def _task_or_model(value):
    """`poly`, `mnist`, or the path of a saved compiled model (`PATH.keras`)."""
    import argparse

    if value in ("poly", "mnist") or value.endswith(".keras"):
        return value
    raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from 'poly', 'mnist' or PATH.keras)")


def _device_list(value):
    """`0,1,3` as `["0", "1", "3"]`; an empty string as no accelerator at all."""
    import argparse

    devices = [d.strip() for d in value.split(",")] if value.strip() else []
    if any(not d for d in devices):
        raise argparse.ArgumentTypeError(f"invalid device list: {value!r} (comma-separated, e.g. 0,1)")
    return devices


# Kept here, not imported from polykeras.lr_finder, so --help needs no backend (a test checks they agree).
SUGGESTION_RULES = ("descent", "valley", "minimum", "steepest")


def add_lr_find_arguments(find, add_outputs, seed_type):
    find.add_argument("task", type=_task_or_model, metavar="task",
                      help="what to test: poly, mnist, or PATH.keras (a saved compiled model)")
    find.add_argument("--steps", type=int, default=100, help="learning rates tried (default: 100)")
    find.add_argument("--suggest", choices=SUGGESTION_RULES, default=None,
                      help=f"the rule that suggests the rate (default: {SUGGESTION_RULES[0]}); every rule's pick is "
                           "printed and in the JSON")
    find.add_argument("--data", default="auto",
                      help="MNIST data, as train-mnist's --data (default: auto); for PATH.keras, an .npz with arrays "
                           "x and y (several inputs: x_0, x_1, ...), or Keras's x_train and y_train")
    find.add_argument("--batch-size", type=int, default=32, help="samples per rate, for PATH.keras (default: 32)")
    find.add_argument("--start-lr", type=float, default=1e-7, help="first rate, for PATH.keras (default: 1e-7)")
    find.add_argument("--end-lr", type=float, default=10.0, help="last rate, for PATH.keras (default: 10)")
    find.add_argument("--seed", type=seed_type, default=0, help="seed (default: 0)")
    find.add_argument("--plot", metavar="PATH.png", help="where to draw loss against rate (default: in the run's logs)")
    add_outputs(find, "lr-find", save=False)


def print_trial(trial):
    """One line per finished trial: `trial 3/10  lr 2.1e-03  val_accuracy 0.9450  best 0.9517  41 s`."""
    hp = trial["hyperparameters"]
    score = "-" if trial["score"] is None else f"{trial['score']:.4f}"
    best = "-" if trial["best_score"] is None else f"{trial['best_score']:.4f}"
    optimizer = f"  {hp['optimizer']}" if "optimizer" in hp else ""
    print(f"trial {trial['number']}/{trial['total']}  lr {hp['learning_rate']:.1e}{optimizer}  "
          f"{trial['objective']} {score}  best {best}  {trial['seconds']:.0f} s", flush=True)


def _saved_model_and_data(args):
    """`(model, x, y, options)` for `PATH.keras --data FILE.npz`; `(task, data, None, {})` for a task."""
    from polykeras.search.tasks import task_data

    if not args.task.endswith(".keras"):
        model_options = {"batch_size": args.batch_size, "validation_split": args.validation_split,
                         "objective": args.objective}
        given = [name for name, value in model_options.items() if value is not None]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} applies to PATH.keras, not to {args.task}")
        return args.task, task_data(args.task, None if args.task == "poly" else args.data, args.seed), None, {}
    from polykeras.data import load_arrays
    from polykeras.saving import load_model

    model = load_model(args.task)
    x, y, validation = load_arrays(_npz(args.data))
    options = {"validation_data": validation, "batch_size": args.batch_size or 32,
               "objective": args.objective or "val_loss"}
    if validation is None:
        options["validation_split"] = 0.2 if args.validation_split is None else args.validation_split
    return model, x, y, options


def _npz(path):
    from polykeras.errors import InvalidArgumentError

    if not (path.endswith(".npz") and os.path.isfile(path)):
        raise InvalidArgumentError(f"--data must be an .npz file with arrays x and y. Received: {path}")
    return path


def cmd_tune(args):
    from polykeras import search
    from polykeras.saving import save_model

    optimizers = args.optimizers.split(",") if args.optimizers else None
    check_output_file(args.save, ".keras", args.overwrite_save, "--save", "--overwrite-save")
    check_output_file(args.json)
    task, x, y, options = _saved_model_and_data(args)
    result = search(
        task, x, y, tuner=args.tuner, max_trials=args.max_trials, max_epochs=args.max_epochs,
        directory=args.directory or os.path.join("logs", "tune"), project_name=args.project_name,
        overwrite=args.overwrite, workers=args.workers, from_lr_find=args.from_lr_find, optimizers=optimizers,
        seed=args.seed,
        port=args.port, devices=args.devices, on_trial_end=print_trial, verbose=progress() if args.verbose else 0,
        chief_timeout=args.chief_timeout, **options,
    )
    if result is None:  # a worker of a distributed search (KERASTUNER_TUNER_ID set)
        return 0
    searched_optimizers = any("optimizer" in t["hyperparameters"] for t in result.trials)
    print(format_table(
        ["trial", "learning rate", *(["optimizer"] if searched_optimizers else []), result.objective, "epochs",
         "status"],
        [[t["trial_id"], f"{t['hyperparameters']['learning_rate']:.3g}",
          *([t["hyperparameters"].get("optimizer", "")] if searched_optimizers else []),
          "-" if t["score"] is None else f"{t['score']:.5g}", t["epochs"], t["status"]] for t in result.trials],
    ))
    shown = "-" if result.best_score is None else f"{result.best_score:.5g}"
    print(f"\nbest: {result.best_hyperparameters} with {result.objective} {shown}; {len(result.trials)} trials, "
          f"{result.trained_epochs} epochs trained, {result.seconds:.1f} s")
    print(f"logs: {result.log_dir}  (view with: polykeras tensorboard --logdir {result.log_dir})")
    if args.save:
        save_model(result.best_model(), args.save)
        print(f"model (best, retrained for {result.max_epochs} epochs): {args.save}")
    write_json(args.json, {**result.as_json(), "tuner": args.tuner})
    return 0


def cmd_lr_find(args):
    from polykeras import lr_find
    from polykeras.lr_finder.finder import check_arguments
    from polykeras.runs import new_run_dir

    suggest = {"suggest": args.suggest} if args.suggest else {}
    check_arguments(args.steps, args.start_lr, args.end_lr, args.batch_size, **suggest)
    check_output_file(args.plot, ".png", True, "--plot")
    check_output_file(args.json)
    if args.task.endswith(".keras"):
        from polykeras.data import load_arrays
        from polykeras.saving import load_model

        model, (x, y, _) = load_model(args.task), load_arrays(_npz(args.data))
        name = os.path.splitext(os.path.basename(args.task))[0]
        options = {"batch_size": args.batch_size, "start_lr": args.start_lr, "end_lr": args.end_lr}
    else:
        from polykeras.search.tasks import task_data

        model, name, options = args.task, args.task, {}
        x, y = task_data(args.task, None if args.task == "poly" else args.data, args.seed), None
    root = runs_dir(args.log_dir, "lr-find", args.no_log)
    run_dir = new_run_dir(root, name) if root else None
    result = lr_find(model, x, y, steps=args.steps, seed=args.seed, **options, **suggest)
    plot = args.plot or (os.path.join(run_dir, "lr_find.png") if run_dir else None)
    picture = result.plot(plot)
    if run_dir:
        result.write_events(run_dir, picture)
    print(format_table(["rule", "learning rate"], [[f"{rule}{' (suggested)' if rule == result.rule else ''}",
                                                    f"{rate:.3g}"] for rule, rate in result.suggestions.items()]))
    print(f"\nsuggested learning rate: {result.suggestion:.3g} ({result.rule}: {result.method}; "
          f"{len(result.rates)} rates from {result.rates[0]:.2g} to {result.rates[-1]:.2g})")
    if result.diverged:
        print(f"the loss exploded at {result.rates[-1]:.2g}; the sweep stopped there")
    if plot:
        print(f"plot: {plot}")
    if run_dir:
        print(f"logs: {run_dir}  (view with: polykeras tensorboard --logdir {os.path.dirname(run_dir)})")
    write_json(args.json, result.as_json())
    return 0
