"""`polykeras fit-poly` and `polykeras demo`: the polynomial learned from zero, and the seed's problem end to end."""

import os

from polykeras_cli.arguments import add_outputs, add_seed
from polykeras_cli.checks import (
    OPTIMIZERS,
    UsageError,
    check_int,
    check_log_dir,
    check_name,
    check_number,
    check_output_file,
    floats,
)
from polykeras_cli.output import format_table, print_logs, progress, runs_dir, write_json

# polykeras.layers' BASES and MAX_DEGREE (a test checks that they agree).
BASES = ("legendre", "chebyshev", "monomial")
MAX_DEGREE = 20


def add_fit_arguments(parser):
    data = parser.add_argument_group("data (synthetic unless --csv)")
    data.add_argument("--csv", metavar="PATH", help="read x, y from a CSV file with a header row")
    data.add_argument("--x-column", default="x", help="CSV column of x (default: x)")
    data.add_argument("--y-column", default="y", help="CSV column of y (default: y)")
    data.add_argument(
        "--true-coefficients",
        default="1,2,3",
        metavar="C0,C1,...",
        help="synthetic y = c0 + c1 x + ... (default: 1,2,3)",
    )
    data.add_argument("--noise", type=float, default=0.1, help="noise standard deviation (default: 0.1)")
    data.add_argument("--samples", type=int, default=100, help="number of points (default: 100)")
    data.add_argument("--x-range", default="-1,1", metavar="LOW,HIGH", help="x interval (default: -1,1)")
    add_seed(data, "seed of the noise and of Keras")
    model = parser.add_argument_group("model and training")
    model.add_argument(
        "--degree", type=int, default=5, help="polynomial degree (default: 5, the seed's six coefficients)"
    )
    model.add_argument("--basis", default="legendre", help="legendre (default), chebyshev or monomial")
    model.add_argument("--optimizer", default="sgd", help="any Keras optimizer name (default: sgd)")
    model.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="default: 0.4 for legendre/chebyshev (orthonormalised), 0.01 for monomial",
    )
    model.add_argument("--epochs", type=int, default=20, help="passes over the data (default: 20)")
    model.add_argument("--batch-size", type=int, default=None, help="points per step (default: all of them)")
    out = parser.add_argument_group("output")
    add_outputs(out, "fit-poly")
    out.add_argument("--plot", metavar="PATH.png", help="draw the coefficients' walk from 0 and the fit (matplotlib)")


def check_fit(args):
    """The flags of `fit-poly`, before a backend is imported (the data's own checks come when it is read)."""
    check_int(args, "degree", at_least=0, at_most=MAX_DEGREE)
    if args.basis not in BASES:
        raise UsageError(f"--basis must be one of {', '.join(BASES)}. Received: basis={args.basis!r}")
    check_name(args.optimizer, OPTIMIZERS, "Keras optimizer", "optimizer")
    check_number(args, "learning_rate", above=0)
    check_int(args, "epochs")
    check_int(args, "batch_size")
    if args.csv is None:
        check_int(args, "samples")
        check_number(args, "noise", at_least=0)
        floats(args.true_coefficients, "--true-coefficients")
        x_range = floats(args.x_range, "--x-range")
        if len(x_range) != 2:
            raise UsageError(f"--x-range must be two numbers LOW,HIGH. Received: --x-range={args.x_range}")
    elif not os.path.isfile(args.csv):
        raise UsageError(f"CSV file not found. Received: {args.csv}")
    check_output_file(args.save, ".keras", args.overwrite, "--save")
    check_output_file(args.json)
    check_output_file(args.plot, ".png", True, "--plot")
    if not args.no_log:
        check_log_dir(args.log_dir)


def _data(args):
    from polykeras import data

    if args.csv:
        return data.load_csv(args.csv, args.x_column, args.y_column), None
    true = floats(args.true_coefficients, "--true-coefficients")
    x_range = tuple(floats(args.x_range, "--x-range"))
    return data.synthetic_polynomial(true, args.samples, args.noise, x_range, args.seed), true


def coefficient_table(result, true_coefficients=None):
    headers = ["term", "start", "learned", "least squares"]
    if true_coefficients is not None:
        headers.append("true")
    rows = []
    for k, (learned, lstsq) in enumerate(zip(result.coefficients, result.least_squares_coefficients, strict=True)):
        row = [f"x^{k}", "0", f"{learned:.6g}", f"{lstsq:.6g}"]
        if true_coefficients is not None:
            row.append(f"{true_coefficients[k]:.6g}" if k < len(true_coefficients) else "0")
        rows.append(row)
    return format_table(headers, rows)


def fit_and_report(args, task="fit-poly"):
    """Trains, prints the coefficient table; returns the result and its JSON."""
    from polykeras import polynomial
    from polykeras.polynomial_panel import CoefficientHistory
    from polykeras.saving import save_model

    (x, y), true = _data(args)
    lr = args.learning_rate if args.learning_rate is not None else polynomial.default_learning_rate(args.basis)
    polynomial.check_polynomial_fit_args(
        x, y, args.degree, args.basis, args.optimizer, lr, args.epochs, args.batch_size
    )
    history = CoefficientHistory() if args.plot else None
    result = polynomial.fit_polynomial(
        x,
        y,
        degree=args.degree,
        basis=args.basis,
        optimizer=args.optimizer,
        learning_rate=lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=[history] if history else [],
        runs_dir=runs_dir(args.log_dir, task, args.no_log),
        verbose=progress(),
        seed=args.seed,
    )
    print()
    print(coefficient_table(result, true))
    print(
        f"\nrelative coefficient gap to least squares: {result.relative_coefficient_gap:.3g}"
        f"\nmse: {result.mse:.6g} (least squares: {result.least_squares_mse:.6g})"
        f"\n{result.epochs} epochs ({result.epochs // result.passes_per_keras_epoch} Keras epochs of "
        f"{result.passes_per_keras_epoch}) with {args.optimizer} at learning rate {lr:g}: "
        f"{result.train_seconds:.3f} s"
    )
    payload = {
        **result.as_json(),
        "degree": args.degree,
        "basis": args.basis,
        "optimizer": args.optimizer,
        "learning_rate": lr,
    }
    if true is not None:
        payload["true_coefficients"] = true
    if args.save:
        save_model(result.model, args.save)
        print(f"model: {args.save}")
    if history:
        from polykeras.plots import plot_polynomial_fit  # matplotlib: loaded when a picture is asked for

        print(f"plot: {plot_polynomial_fit(args.plot, history, x, y, result, true)}")
    print_logs(result.log_dir)
    return result, payload


def fit(args):
    _, payload = fit_and_report(args)
    write_json(args.json, payload)
    return 0


def add_demo_arguments(parser):
    parser.add_argument("--log-dir", metavar="DIR", help="root of the demo's logs (default: logs)")
    parser.add_argument("--json", metavar="PATH", help="write the summary's numbers as JSON")


def check_demo(args):
    check_log_dir(args.log_dir)
    check_output_file(args.json)


def demo(args):
    """The seed's problem end to end: its own recipe, then polykeras's default; then zeros in a network."""
    from polykeras import demo

    base = ["--log-dir", os.path.join(args.log_dir or "logs", "demo")]
    summary = []
    for title, recipe in demo.SEED_RECIPES:
        print(f"\n== {title}\n")
        flags = [item for key, value in recipe.items() for item in (f"--{key.replace('_', '-')}", str(value))]
        result, _ = fit_and_report(args.parser.parse_args(["fit-poly", *base, *flags]), task="demo")
        summary.append((title.split(":")[0], result))
    print("\n== Summary: y = 1 + 2x + 3x^2 + noise, 100 points on [-1, 1], six coefficients starting at 0")
    print(
        format_table(
            ["run", "epochs", "gap to least squares", "seconds"],
            [[name, r.epochs, f"{r.relative_coefficient_gap:.2g}", f"{r.train_seconds:.2f}"] for name, r in summary],
        )
    )
    print("\nThe optimizer, not the initial value, moves the coefficients; how fast depends on the basis.")
    zeros = _demo_symmetry(demo)
    gradients = _demo_what_is_trained(demo)
    write_json(
        args.json,
        {
            "recipes": [
                {"run": name, "epochs": r.epochs, "relative_coefficient_gap": r.relative_coefficient_gap}
                for name, r in summary
            ],
            "zero_init": zeros,
            "gradients": gradients,
        },
    )
    return 0


def _demo_what_is_trained(demo):
    """The seed's second question: how does Keras know which variables to train?"""
    import keras

    from polykeras.data import synthetic_polynomial

    name = keras.backend.backend()
    print(f"\n== 4. How Keras knows what to train (backend: {name})")
    print(f"On {name}, {demo.HOW_KERAS_TRAINS[name]}.\n")
    x, y = synthetic_polynomial(**{k: v for k, v in demo.SEED_PROBLEM.items() if k != "degree"})
    variables = demo.what_gets_a_gradient(x, y, demo.SEED_PROBLEM["degree"])
    rows = [
        [
            v["path"],
            "x".join(map(str, v["shape"])) or "scalar",
            "yes" if v["trainable"] else "no",
            "none" if v["gradient_norm"] is None else f"{v['gradient_norm']:.4g}",
        ]
        for v in variables
    ]
    print(format_table(["variable", "shape", "trainable", "gradient norm at the start"], rows))
    print("\nOnly `coefficients` gets a gradient, so only it moves; `adapt` set the domain and the basis, and the")
    print("optimizer leaves them alone (model.trainable_weights lists coefficients alone).")
    return [{"path": v["path"], "trainable": v["trainable"], "gradient_norm": v["gradient_norm"]} for v in variables]


def _demo_symmetry(demo):
    """Zeros are fine for the polynomial, not for a network: measured on real digits."""
    from polykeras import data

    print("\n== 3. Zero initialisation: fine for the polynomial, fatal for a network")
    print("The polynomial is linear in its coefficients, so each gets its own gradient from zero. In an MLP")
    print("started at zero every hidden unit computes the same thing and gets the same (here zero) gradient.\n")
    *digits, source = data.load_mnist("sample")
    results = demo.zero_init_contrast(digits)
    rows = [
        [
            init,
            " / ".join(f"{r['distinct_units']} of {r['units']}" for r in result.hidden_units),
            " / ".join(f"{r['kernel_gradient_norm']:.3g}" for r in result.hidden_units),
            f"{100 * result.test_accuracy:.1f} %",
        ]
        for init, result in results
    ]
    print(
        format_table(
            [
                "init",
                "distinct hidden units",
                "hidden kernel gradient norm",
                f"test accuracy ({source}, {demo.ZERO_INIT['epochs']} epochs)",
            ],
            rows,
        )
    )
    print("\nNext: polykeras train-mnist (try --init zeros), polykeras tensorboard --logdir logs,")
    print("      polykeras tune mnist --data sample (KerasTuner's learning-rate search)")
    return [
        {"init": init, "hidden_units": result.hidden_units, "test_accuracy": result.test_accuracy}
        for init, result in results
    ]
