#!/usr/bin/env python
"""What logging to TensorBoard costs: the same training with and without polykeras's callback.

    .venv/bin/python benchmarks/logging_overhead.py [--repeats 5] [--mnist-epochs 20]

Side by side, alternating, median of --repeats: the default `fit-poly` run
(degree 5, 100 points, 20 epochs) and the seed-parity run (1000 epochs), each
with the callback at its default frequency (as the commands use it) and
without; the MNIST recipe for --mnist-epochs epochs, with and without
augmentation, as `train-mnist` runs it (TensorBoard logs, budgeted backups,
NaN guard) against a plain Keras `fit` of the same model, compile and batch;
and the convnet of `scripts/watch_a_convnet.py` with `polykeras.TensorBoard`
at its defaults, and again with a fixed batch (`data=`, for gradients and
activations), against plain `fit`. Times are `fit`'s, which returns with the
logs on disk.

Then the fixed cost of each default callback per epoch, on epochs made short
(512 digits, the MLP without augmentation) so that it shows: plain `fit`, each
callback alone, and all three. Prints the ratios; timings are never asserted.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from polykeras import backend
from polykeras.backup import Backup
from polykeras.data import load_mnist, synthetic_polynomial
from polykeras.guards import StopOnNaN
from polykeras.mnist import (
    MNIST_BATCH_SIZE,
    STEPS_PER_EXECUTION,
    compile_mnist,
    mnist_logger,
    mnist_mlp,
    train_mnist,
)
from polykeras.polynomial import fit_polynomial
from polykeras.tensorboard import TensorBoard


def poly_case(epochs, **kwargs):
    """fit-poly with its logging (a run folder) against without."""
    x, y = synthetic_polynomial([1, 2, 3])

    def run(log_dir):
        return fit_polynomial(x, y, degree=5, epochs=epochs, runs_dir=log_dir, **kwargs).train_seconds

    return run


def mnist_case(epochs, augment, callbacks=list):
    """train-mnist's defaults (TensorBoard logging, backups, NaN guard) against plain Keras `fit`, same model.

    `callbacks()` makes more callbacks for each run, for both.
    """
    *data, _ = load_mnist("sample")
    (x_train, y_train), _ = data
    one_hot = keras.utils.to_categorical(y_train, 10)

    def run(log_dir):
        if log_dir:  # what `polykeras train-mnist` does: a run folder, its logs and its backup
            return train_mnist(
                data, epochs=epochs, augment=augment, runs_dir=log_dir, callbacks=callbacks()
            ).train_seconds
        backend.set_random_seed(0)
        model = mnist_mlp(augment=augment)
        compile_mnist(
            model,
            1e-3,
            epochs * -(-len(x_train) // MNIST_BATCH_SIZE),
            steps_per_execution=STEPS_PER_EXECUTION[backend.name()],
        )  # as train_mnist compiles it
        start = time.perf_counter()
        model.fit(x_train, one_hot, batch_size=MNIST_BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks())
        return time.perf_counter() - start

    return run


def convnet():
    """The model of scripts/watch_a_convnet.py (keras-io's "Simple MNIST convnet")."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def convnet_case(epochs, with_data):
    """The convnet with `polykeras.TensorBoard` at its defaults (`with_data`: and a fixed batch) against plain `fit`."""
    (x_train, y_train), _, _ = load_mnist("sample")
    x_train = x_train[..., None].astype("float32") / 255
    fixed = np.linspace(0, len(x_train) - 1, 256).astype(int)

    def run(log_dir):
        backend.set_random_seed(0)
        model = convnet()
        data = (x_train[fixed], y_train[fixed]) if with_data else None
        callbacks = [TensorBoard(log_dir, data=data)] if log_dir else []
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0, callbacks=callbacks)
        return time.perf_counter() - start

    return run


def per_epoch_costs(epochs=30, samples=512, repeats=3):
    """Milliseconds per short epoch: plain fit, each of train-mnist's default callbacks alone, and all three."""
    (x_train, y_train), _, _ = load_mnist("sample")
    pick = np.linspace(0, len(x_train) - 1, samples).astype(int)
    x, one_hot = x_train[pick], keras.utils.to_categorical(y_train[pick], 10)

    def timed(make_callbacks):
        backend.set_random_seed(0)
        model = mnist_mlp(augment=False)
        compile_mnist(model, 1e-3, epochs * -(-samples // MNIST_BATCH_SIZE))
        model.fit(x, one_hot, batch_size=MNIST_BATCH_SIZE, epochs=1, verbose=0)  # compiled before the clock
        with tempfile.TemporaryDirectory() as folder:
            callbacks = make_callbacks(folder)
            start = time.perf_counter()
            model.fit(x, one_hot, batch_size=MNIST_BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks)
            seconds = time.perf_counter() - start
        return 1000 * seconds / epochs

    variants = {
        "plain fit": lambda folder: [],
        "+ TensorBoard (train-mnist's)": lambda folder: [mnist_logger(os.path.join(folder, "logs"), x, pick % 10)],
        "+ Backup (budget 0.02)": lambda folder: [Backup(os.path.join(folder, "backup"))],
        "+ NaN guard": lambda folder: [StopOnNaN()],
        "+ all three": lambda folder: [
            StopOnNaN(),
            mnist_logger(os.path.join(folder, "logs"), x, pick % 10),
            Backup(os.path.join(folder, "backup")),
        ],
    }
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, make in variants.items():
            times[name].append(timed(make))
    plain = statistics.median(times["plain fit"])
    print(
        f"\nper-epoch cost of the default callbacks: {epochs} epochs of {samples} digits "
        f"({-(-samples // MNIST_BATCH_SIZE)} steps), median of {repeats}"
    )
    print(f"{'callbacks':32} {'ms/epoch':>9} {'added ms':>9} {'throughput':>11}")
    for name, values in times.items():
        ms = statistics.median(values)
        print(f"{name:32} {ms:9.2f} {ms - plain:9.2f} {plain / ms:10.3f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mnist-epochs", type=int, default=20)
    parser.add_argument("--convnet-epochs", type=int, default=5)
    parser.add_argument(
        "--only",
        choices=["poly", "mnist", "convnet", "per-epoch"],
        action="append",
        help="run only these cases (repeatable); default all",
    )
    args = parser.parse_args()
    only = set(args.only or ["poly", "mnist", "convnet", "per-epoch"])
    cases = {
        "fit-poly default (20 epochs)": (poly_case(20), args.repeats),
        "fit-poly seed parity (1000 epochs)": (poly_case(1000, basis="monomial", learning_rate=0.01), args.repeats),
        f"train-mnist, augmented ({args.mnist_epochs} epochs)": (
            mnist_case(args.mnist_epochs, True),
            max(2, args.repeats // 2),
        ),
        f"train-mnist, not augmented ({args.mnist_epochs} epochs)": (
            mnist_case(args.mnist_epochs, False),
            max(2, args.repeats // 2),
        ),
        f"convnet, TensorBoard defaults ({args.convnet_epochs} epochs)": (
            convnet_case(args.convnet_epochs, False),
            max(2, args.repeats // 2),
        ),
        f"convnet, defaults + data= ({args.convnet_epochs} epochs)": (
            convnet_case(args.convnet_epochs, True),
            max(2, args.repeats // 2),
        ),
    }
    kinds = ["poly", "poly", "mnist", "mnist", "convnet", "convnet"]
    cases = {name: case for (name, case), kind in zip(cases.items(), kinds, strict=True) if kind in only}
    print("times are fit's, which returns with the logs on disk")
    print(f"{'task':42} {'no logging s':>13} {'logging s':>10} {'ratio':>7} {'throughput':>11}")
    with tempfile.TemporaryDirectory() as root:
        for name, (run, repeats) in cases.items():
            plain, logged = [], []
            for _ in range(repeats):
                plain.append(run(None))
                logged.append(run(os.path.join(root, str(time.monotonic_ns()))))
            p, q = statistics.median(plain), statistics.median(logged)
            print(f"{name:42} {p:13.3f} {q:10.3f} {q / p:7.3f} {p / q:10.3f}x   (median of {repeats})", flush=True)
    if "per-epoch" in only:
        per_epoch_costs()


if __name__ == "__main__":
    main()
