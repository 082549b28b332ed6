"""`polykeras train-mnist`, `evaluate`, `predict` and `inspect`."""

from polykeras_cli.output import (
    UsageError,
    check_output_file,
    format_table,
    print_logs,
    progress,
    runs_dir,
    write_json,
)

# Kept here, not imported from polykeras.mnist, so --help needs no TensorFlow (a test checks they agree).
MNIST_DEFAULTS = {"epochs": 90, "batch_size": 128, "dropout": 0.1, "elastic": 1.5}


def add_train_arguments(train, add_outputs, seed_type):
    train.add_argument("--data", default="auto", help="auto (default), keras, sample, or PATH.npz with Keras's keys")
    train.add_argument("--epochs", type=int, default=MNIST_DEFAULTS["epochs"],
                       help=f"passes over the training images (default: {MNIST_DEFAULTS['epochs']})")
    train.add_argument("--batch-size", type=int, default=MNIST_DEFAULTS["batch_size"],
                       help=f"images per step (default: {MNIST_DEFAULTS['batch_size']})")
    train.add_argument("--learning-rate", type=float, default=1e-3,
                       help="Adam's initial rate, cosine-decayed (default: 0.001)")
    train.add_argument("--hidden", default="512,512", help="hidden layer sizes (default: 512,512)")
    train.add_argument("--dropout", type=float, default=MNIST_DEFAULTS["dropout"],
                       help=f"dropout after each hidden layer (default: {MNIST_DEFAULTS['dropout']})")
    train.add_argument("--no-augment", action="store_true",
                       help="train without random shifts, rotations, zooms and elastic distortions")
    train.add_argument("--elastic", type=float, default=MNIST_DEFAULTS["elastic"],
                       help="largest elastic displacement in pixels, 0 for none "
                            f"(default: {MNIST_DEFAULTS['elastic']})")
    train.add_argument("--no-deskew", action="store_true", help="do not straighten the digits first")
    train.add_argument("--init", default="glorot_uniform", help="Keras initializer of the kernels, e.g. zeros")
    train.add_argument("--seed", type=seed_type, default=0, help="seed (default: 0)")
    add_outputs(train, "train-mnist")


def _parse_hidden(text):
    try:
        hidden = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--hidden must be comma-separated unit counts such as 512,512. Received: {text!r}") from None
    if not hidden or min(hidden) <= 0:
        raise UsageError(f"--hidden must be positive unit counts such as 512,512. Received: {text!r}")
    return hidden


def cmd_train_mnist(args):
    from polykeras import data, mnist
    from polykeras.checks import check_int, check_learning_rate
    from polykeras.errors import LossBecameNaN, TrainingCollapsed
    from polykeras.saving import save_model

    hidden = _parse_hidden(args.hidden)
    mnist.mnist_mlp(hidden, args.dropout, args.init, elastic=args.elastic)  # validates before the data is loaded
    for value, name in ((args.epochs, "epochs"), (args.batch_size, "batch_size")):
        check_int(value, name)
    check_learning_rate(args.learning_rate)
    check_output_file(args.save, ".keras", args.overwrite, "--save")
    check_output_file(args.json)
    (x_train, y_train), (x_test, y_test), source = data.load_mnist(args.data)

    print(f"data: {source}, {len(x_train)} training and {len(x_test)} test images")
    try:
        # The same arguments are the same run: a killed one is resumed, a live one refused.
        result = mnist.train_mnist(
            ((x_train, y_train), (x_test, y_test)), epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, hidden=hidden, dropout=args.dropout, augment=not args.no_augment,
            deskew=not args.no_deskew, elastic=args.elastic, init=args.init, runs_dir=runs_dir(args.log_dir, "train-mnist", False), log=not args.no_log,
            verbose=progress(), seed=args.seed,
        )
    except (LossBecameNaN, TrainingCollapsed) as e:
        if args.save:
            save_model(e.model, args.save)
            print(f"model ({'last good epoch' if isinstance(e, LossBecameNaN) else 'collapsed'}): {args.save}")
        raise
    report = result.hidden_units
    print()
    print(format_table(
        ["data", "epochs", "train seconds", "samples/s", "test accuracy"],
        [[source, result.epochs, f"{result.train_seconds:.1f}", f"{result.samples_per_second:,.0f}",
          f"{100 * result.test_accuracy:.2f} %"]],
    ))
    print()
    print(format_table(
        ["hidden layer", "units", "distinct units", "kernel gradient norm"],
        [[r["layer"], r["units"], r["distinct_units"], f"{r['kernel_gradient_norm']:.3g}"] for r in report],
    ))
    if any(r["distinct_units"] == 1 for r in report):
        print(f"\nsymmetry: with --init {args.init} every hidden unit of a layer is identical and no gradient "
              f"reaches the hidden kernels, so the network learns only the class frequencies: test accuracy "
              f"{100 * result.test_accuracy:.1f} % against 10 % chance. Random initialisation breaks the symmetry.")
    if args.save:
        save_model(result.model, args.save)
        print(f"model: {args.save}")
    print_logs(result.log_dir)
    write_json(args.json, {**result.as_json(), "data_source": source})
    return 0


def cmd_evaluate(args):
    from polykeras import data, mnist
    from polykeras.saving import load_digit_model

    check_output_file(args.json)
    model = load_digit_model(args.model)
    _, (x_test, y_test), source = data.load_mnist(args.data)
    acc = mnist.accuracy(model, x_test, y_test)
    print(f"accuracy: {100 * acc:.2f} % on {len(x_test)} test images ({source})")
    write_json(args.json, {"accuracy": acc, "test_images": len(x_test), "data_source": source})
    return 0


def cmd_predict(args):
    import numpy as np

    from polykeras.data import read_digit
    from polykeras.saving import load_digit_model

    check_output_file(args.json)
    images = np.stack([read_digit(p) for p in args.images])
    model = load_digit_model(args.model)
    probabilities = model.predict(images, verbose=0)
    rows = [[p, int(np.argmax(q)), f"{float(np.max(q)):.3f}"] for p, q in zip(args.images, probabilities)]
    print(format_table(["image", "digit", "probability"], rows))
    write_json(args.json, {"predictions": [{"image": r[0], "digit": r[1], "probability": float(r[2])} for r in rows]})
    return 0


def cmd_inspect(args):
    import numpy as np

    from polykeras.saving import load_model

    model = load_model(args.model)
    rows, totals = [], {True: 0, False: 0}
    for v in model.weights:
        size = int(np.prod(v.shape))
        totals[v.trainable] += size
        rows.append([v.path, "x".join(map(str, v.shape)) or "scalar", f"{size:,}", "yes" if v.trainable else "no"])
    print(f"model: {model.name} ({type(model).__name__})")
    print(format_table(["variable", "shape", "size", "trainable"], rows))
    print(f"\ntrainable: {totals[True]:,}  non-trainable: {totals[False]:,}  total: {sum(totals.values()):,}")
    return 0
