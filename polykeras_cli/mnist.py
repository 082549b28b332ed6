"""`polykeras train-mnist`, `evaluate`, `predict` and `inspect`: the MNIST MLP, and a saved model's digits."""

import os

from polykeras_cli.arguments import add_outputs, add_seed
from polykeras_cli.checks import (
    INITIALIZERS,
    UsageError,
    check_int,
    check_log_dir,
    check_mnist_data,
    check_model_file,
    check_name,
    check_number,
    check_output_file,
)
from polykeras_cli.output import format_table, print_logs, progress, runs_dir, write_json

# polykeras.mnist's recipe (a test checks that they agree): here, so that --help needs no backend.
MNIST_DEFAULTS = {"epochs": 90, "batch_size": 128, "dropout": 0.1, "elastic": 1.5}
MAX_ELASTIC = 8.0  # polykeras.augment's largest elastic displacement, in pixels


def add_train_arguments(parser):
    parser.add_argument("--data", default="auto", help="auto (default), keras, sample, or PATH.npz with Keras's keys")
    parser.add_argument(
        "--epochs",
        type=int,
        default=MNIST_DEFAULTS["epochs"],
        help=f"passes over the training images (default: {MNIST_DEFAULTS['epochs']})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=MNIST_DEFAULTS["batch_size"],
        help=f"images per step (default: {MNIST_DEFAULTS['batch_size']})",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, help="Adam's initial rate, cosine-decayed (default: 0.001)"
    )
    parser.add_argument("--hidden", default="512,512", help="hidden layer sizes (default: 512,512)")
    parser.add_argument(
        "--dropout",
        type=float,
        default=MNIST_DEFAULTS["dropout"],
        help=f"dropout after each hidden layer (default: {MNIST_DEFAULTS['dropout']})",
    )
    parser.add_argument(
        "--no-augment",
        action="store_true",
        help="train without random shifts, rotations, zooms and elastic distortions",
    )
    parser.add_argument(
        "--elastic",
        type=float,
        default=MNIST_DEFAULTS["elastic"],
        help=f"largest elastic displacement in pixels, 0 for none (default: {MNIST_DEFAULTS['elastic']})",
    )
    parser.add_argument("--no-deskew", action="store_true", help="do not straighten the digits first")
    parser.add_argument("--init", default="glorot_uniform", help="Keras initializer of the kernels, e.g. zeros")
    add_seed(parser)
    add_outputs(parser, "train-mnist")


def _hidden(text):
    try:
        hidden = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--hidden must be comma-separated unit counts such as 512,512. Received: {text!r}") from None
    if not hidden or min(hidden) <= 0:
        raise UsageError(f"--hidden must be positive unit counts such as 512,512. Received: {text!r}")
    return hidden


def check_train(args):
    _hidden(args.hidden)
    check_number(args, "dropout", at_least=0, below=1)
    check_number(args, "elastic", at_least=0, at_most=MAX_ELASTIC)
    check_name(args.init, INITIALIZERS, "Keras initializer", "init")
    check_int(args, "epochs")
    check_int(args, "batch_size")
    check_number(args, "learning_rate", above=0)
    check_mnist_data(args.data)
    check_output_file(args.save, ".keras", args.overwrite, "--save")
    check_output_file(args.json)
    check_log_dir(args.log_dir)


def train(args):
    from polykeras import data, mnist
    from polykeras.errors import LossBecameNaN, TrainingCollapsed
    from polykeras.saving import save_model

    hidden = _hidden(args.hidden)
    (x_train, y_train), (x_test, y_test), source = data.load_mnist(args.data)

    print(f"data: {source}, {len(x_train)} training and {len(x_test)} test images")
    try:
        # The same arguments are the same run: a killed one is resumed, a live one refused.
        result = mnist.train_mnist(
            ((x_train, y_train), (x_test, y_test)),
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            hidden=hidden,
            dropout=args.dropout,
            augment=not args.no_augment,
            deskew=not args.no_deskew,
            elastic=args.elastic,
            init=args.init,
            runs_dir=runs_dir(args.log_dir, "train-mnist", False),
            log=not args.no_log,
            verbose=progress(),
            seed=args.seed,
        )
    except (LossBecameNaN, TrainingCollapsed) as e:
        if args.save:
            save_model(e.model, args.save)
            print(f"model ({'last good epoch' if isinstance(e, LossBecameNaN) else 'collapsed'}): {args.save}")
        raise
    report = result.hidden_units
    print()
    print(
        format_table(
            ["data", "epochs", "train seconds", "samples/s", "test accuracy"],
            [
                [
                    source,
                    result.epochs,
                    f"{result.train_seconds:.1f}",
                    f"{result.samples_per_second:,.0f}",
                    f"{100 * result.test_accuracy:.2f} %",
                ]
            ],
        )
    )
    print()
    print(
        format_table(
            ["hidden layer", "units", "distinct units", "kernel gradient norm"],
            [[r["layer"], r["units"], r["distinct_units"], f"{r['kernel_gradient_norm']:.3g}"] for r in report],
        )
    )
    if any(r["distinct_units"] == 1 for r in report):
        print(
            f"\nsymmetry: with --init {args.init} every hidden unit of a layer is identical and no gradient "
            f"reaches the hidden kernels, so the network learns only the class frequencies: test accuracy "
            f"{100 * result.test_accuracy:.1f} % against 10 % chance. Random initialisation breaks the symmetry."
        )
    if args.save:
        save_model(result.model, args.save)
        print(f"model: {args.save}")
    print_logs(result.log_dir)
    write_json(args.json, {**result.as_json(), "data_source": source})
    return 0


def add_evaluate_arguments(parser):
    parser.add_argument("model", help="a .keras model")
    parser.add_argument("--data", default="auto", help="auto (default), keras, sample or PATH.npz")
    parser.add_argument("--json", metavar="PATH", help="write {accuracy, ...} as JSON")


def check_evaluate(args):
    check_model_file(args.model)
    check_mnist_data(args.data)
    check_output_file(args.json)


def evaluate(args):
    from polykeras import data, diagnostics
    from polykeras.saving import load_digit_model

    model = load_digit_model(args.model)
    _, (x_test, y_test), source = data.load_mnist(args.data)
    acc = diagnostics.accuracy(model, x_test, y_test)
    print(f"accuracy: {100 * acc:.2f} % on {len(x_test)} test images ({source})")
    write_json(args.json, {"accuracy": acc, "test_images": len(x_test), "data_source": source})
    return 0


def add_predict_arguments(parser):
    parser.add_argument("model", help="a .keras model")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files of any size")
    parser.add_argument("--json", metavar="PATH", help="write the predictions as JSON")


def check_predict(args):
    check_model_file(args.model)
    for path in args.images:
        if not os.path.isfile(path):
            raise UsageError(f"image not found. Received: {path}")
    check_output_file(args.json)


def predict(args):
    import numpy as np

    from polykeras.data import read_digit
    from polykeras.saving import load_digit_model

    images = np.stack([read_digit(p) for p in args.images])
    model = load_digit_model(args.model)
    probabilities = model.predict(images, verbose=0)
    rows = [[p, int(np.argmax(q)), f"{float(np.max(q)):.3f}"] for p, q in zip(args.images, probabilities, strict=True)]
    print(format_table(["image", "digit", "probability"], rows))
    write_json(args.json, {"predictions": [{"image": r[0], "digit": r[1], "probability": float(r[2])} for r in rows]})
    return 0


def add_inspect_arguments(parser):
    parser.add_argument("model", help="a .keras model")
    parser.add_argument("--json", metavar="PATH", help="write every variable as JSON")


def check_inspect(args):
    check_model_file(args.model)
    check_output_file(args.json)


def inspect(args):
    import numpy as np

    from polykeras.saving import load_model

    model = load_model(args.model)
    rows, totals, variables = [], {True: 0, False: 0}, []
    for v in model.weights:
        size = int(np.prod(v.shape))
        totals[v.trainable] += size
        rows.append([v.path, "x".join(map(str, v.shape)) or "scalar", f"{size:,}", "yes" if v.trainable else "no"])
        variables.append({"path": v.path, "shape": list(v.shape), "size": size, "trainable": v.trainable})
    print(f"model: {model.name} ({type(model).__name__})")
    print(format_table(["variable", "shape", "size", "trainable"], rows))
    print(f"\ntrainable: {totals[True]:,}  non-trainable: {totals[False]:,}  total: {sum(totals.values()):,}")
    write_json(
        args.json,
        {
            "model": model.name,
            "class": type(model).__name__,
            "variables": variables,
            "trainable": totals[True],
            "non_trainable": totals[False],
        },
    )
    return 0
