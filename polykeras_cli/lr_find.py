"""`polykeras lr-find`: the learning-rate range test, its candidates checked by training, on a task or a saved model."""

import os

from polykeras_cli.arguments import add_outputs, add_seed
from polykeras_cli.checks import UsageError, check_int, check_log_dir, check_number, check_output_file
from polykeras_cli.output import format_table, runs_dir, write_json
from polykeras_cli.tune import add_data_arguments, check_task_data, task_or_model

# polykeras.lr_finder.RULES, the default first (a test checks that they agree): here, so that --help needs no backend.
SUGGESTION_RULES = ("descent", "valley", "minimum", "steepest")
# The flags that apply to a saved model alone: a task sweeps its own model over its own range, at its batch size.
MODEL_FLAGS = ("batch_size", "start_lr", "end_lr", "validation_split")


def add_arguments(parser):
    parser.add_argument(
        "task", type=task_or_model, metavar="task", help="what to test: poly, mnist, or PATH.keras (a compiled model)"
    )
    parser.add_argument("--steps", type=int, default=100, help="learning rates the sweep tries (default: 100)")
    parser.add_argument(
        "--suggest",
        choices=SUGGESTION_RULES,
        default=None,
        help=f"the rule that reads the sweep (default: {SUGGESTION_RULES[0]}); every rule's pick is printed and in "
        "the JSON",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="give the rule's pick, without training the candidates (the check)"
    )
    parser.add_argument("--check-steps", type=int, default=None, help="steps each candidate trains (default: a pass)")
    add_data_arguments(parser, ", and x_val, y_val for the check to score on")
    parser.add_argument("--batch-size", type=int, default=None, help="samples per step, for PATH.keras (default: 32)")
    parser.add_argument("--start-lr", type=float, default=None, help="first rate, for PATH.keras (default: 1e-7)")
    parser.add_argument("--end-lr", type=float, default=None, help="last rate, for PATH.keras (default: 10)")
    parser.add_argument(
        "--validation-split",
        type=float,
        default=None,
        help="for PATH.keras without x_val: the last share the check scores on (default: a random 20 %%)",
    )
    add_seed(parser)
    parser.add_argument(
        "--plot", metavar="PATH.png", help="where to draw loss against rate (default: in the run's logs)"
    )
    add_outputs(parser, "lr-find", save=False)


def check(args):
    check_task_data(args, MODEL_FLAGS)
    check_int(args, "steps", at_least=2)
    check_int(args, "check_steps")
    check_int(args, "batch_size")
    check_number(args, "start_lr", above=0)
    check_number(args, "end_lr", above=0)
    if args.start_lr is not None and args.end_lr is not None and not args.start_lr < args.end_lr:
        raise UsageError(
            f"--start-lr and --end-lr must satisfy 0 < start < end. Received: {args.start_lr} and {args.end_lr}"
        )
    check_number(args, "validation_split", above=0, below=1)
    if args.no_check and args.check_steps is not None:
        raise UsageError(
            f"--check-steps applies to the check, which --no-check leaves out. Received: {args.check_steps}"
        )
    check_output_file(args.plot, ".png", True, "--plot")
    check_output_file(args.json)
    if not args.no_log:
        check_log_dir(args.log_dir)


def run(args):
    from polykeras import lr_find, tasks
    from polykeras.runs import new_run_dir

    options = {"steps": args.steps, "seed": args.seed, "check": not args.no_check}
    if args.suggest:
        options["suggest"] = args.suggest
    if args.task.endswith(".keras"):
        from polykeras.data import load_arrays
        from polykeras.saving import load_model

        model, (x, y, validation) = load_model(args.task), load_arrays(args.data)
        name = os.path.splitext(os.path.basename(args.task))[0]
        given = {
            "batch_size": args.batch_size,
            "start_lr": args.start_lr,
            "end_lr": args.end_lr,
            "validation_split": args.validation_split if validation is None else None,
            "validation_data": validation,
            "check_steps": args.check_steps,
        }
        options.update({key: value for key, value in given.items() if value is not None})

        def sweep():
            return lr_find(model, x, y, **options)
    else:
        name = args.task
        task = tasks.get(args.task, (args.data or "auto") if args.task == "mnist" else None, seed=args.seed)
        if args.check_steps is not None:
            options["check_steps"] = args.check_steps

        def sweep():
            return task.lr_find(**options)

    root = runs_dir(args.log_dir, "lr-find", args.no_log)
    run_dir = new_run_dir(root, name) if root else None
    result = sweep()
    plot = args.plot or (os.path.join(run_dir, "lr_find.png") if run_dir else None)
    picture = result.plot(plot)
    if run_dir:
        result.write_events(run_dir, picture)
    print(
        format_table(
            ["rule", "learning rate"],
            [
                [f"{rule}{' (reads the sweep)' if rule == result.rule else ''}", f"{rate:.3g}"]
                for rule, rate in result.suggestions.items()
            ],
        )
    )
    if result.candidates:
        print(
            f"\nthe check: each candidate trained from the model's start, scored on {result.validation}; "
            "the suggestion is the lowest rate within one standard error of the best loss"
        )
        print(
            format_table(
                ["candidate", "learning rate", "steps", "validation loss", "std. error"],
                [
                    [
                        f"{c.source}{' (suggested)' if c.rate == result.suggestion else ''}",
                        f"{c.rate:.3g}",
                        c.steps,
                        "diverged" if c.score == float("inf") else f"{c.score:.4g}",
                        "" if c.score == float("inf") else f"{c.error:.2g}",
                    ]
                    for c in result.candidates
                ],
            )
        )
    print(
        f"\nsuggested learning rate: {result.suggestion:.3g} ({result.method}; the sweep tried "
        f"{len(result.rates)} rates from {result.rates[0]:.2g} to {result.rates[-1]:.2g})"
    )
    if result.diverged:
        print(f"the loss exploded at {result.rates[-1]:.2g}; the sweep stopped there")
    if plot:
        print(f"plot: {plot}")
    if run_dir:
        print(f"logs: {run_dir}  (view with: polykeras tensorboard --logdir {os.path.dirname(run_dir)})")
    write_json(args.json, result.as_json())
    return 0
