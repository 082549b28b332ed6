#!/usr/bin/env python
"""What logging to TensorBoard costs: the same training with and without polykeras's callback.

    .venv/bin/python benchmarks/logging_overhead.py [--repeats 5] [--mnist-epochs 20]

Side by side, alternating, median of --repeats: the default `fit-poly` run
(degree 5, 100 points, 20 epochs) and the seed-parity run (1000 epochs), each
with the callback at its default frequency (as the commands use it) and
without; and the MNIST recipe for --mnist-epochs epochs, with and without
augmentation, as `train-mnist` runs it (TensorBoard logs, budgeted backups,
NaN guard) against a plain Keras `fit` of the same model, compile and batch.
Prints the ratios; timings are never asserted.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from polykeras import backend  # noqa: E402
from polykeras.data import load_mnist, synthetic_polynomial  # noqa: E402
from polykeras.mnist import MNIST_BATCH_SIZE, compile_mnist, mnist_mlp, train_mnist  # noqa: E402
from polykeras.polynomial import fit_polynomial  # noqa: E402


def poly_case(epochs, **kwargs):
    """fit-poly with its logging (a run folder) against without; the call's time includes writing the logs."""
    x, y = synthetic_polynomial([1, 2, 3])

    def run(log_dir):
        start = time.perf_counter()
        seconds = fit_polynomial(x, y, degree=5, epochs=epochs, runs_dir=log_dir, **kwargs).train_seconds
        return seconds, time.perf_counter() - start

    return run


def mnist_case(epochs, augment):
    """train-mnist's defaults (TensorBoard logging, backups, NaN guard) against plain Keras `fit`, same model."""
    *data, _ = load_mnist("sample")
    (x_train, y_train), _ = data
    one_hot = keras.utils.to_categorical(y_train, 10)

    def run(log_dir):
        if log_dir:  # what `polykeras train-mnist` does: a run folder, its logs and its backup
            result = train_mnist(data, epochs=epochs, augment=augment, runs_dir=log_dir)
            return result.train_seconds, result.train_seconds
        backend.set_random_seed(0)
        model = mnist_mlp(augment=augment)
        compile_mnist(model, 1e-3, epochs * -(-len(x_train) // MNIST_BATCH_SIZE))
        start = time.perf_counter()
        model.fit(x_train, one_hot, batch_size=MNIST_BATCH_SIZE, epochs=epochs, verbose=0)
        seconds = time.perf_counter() - start
        return seconds, seconds

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mnist-epochs", type=int, default=20)
    args = parser.parse_args()
    cases = {
        "fit-poly default (20 epochs)": (poly_case(20), args.repeats),
        "fit-poly seed parity (1000 epochs)": (poly_case(1000, basis="monomial", learning_rate=0.01), args.repeats),
        f"train-mnist, augmented ({args.mnist_epochs} epochs)": (mnist_case(args.mnist_epochs, True),
                                                                 max(2, args.repeats // 2)),
        f"train-mnist, not augmented ({args.mnist_epochs} epochs)": (mnist_case(args.mnist_epochs, False),
                                                                     max(2, args.repeats // 2)),
    }
    print("training time is fit's; 'until on disk' adds the wait for the last summaries to be written")
    print(f"{'task':42} {'no logging s':>13} {'logging s':>10} {'ratio':>7} {'until on disk':>14} {'ratio':>7} "
          f"{'throughput':>11}")
    with tempfile.TemporaryDirectory() as root:
        for name, (run, repeats) in cases.items():
            plain, logged = [], []
            for _ in range(repeats):
                plain.append(run(None))
                logged.append(run(os.path.join(root, str(time.monotonic_ns()))))
            p, q, r = (statistics.median(v) for v in ([a for a, _ in plain], [a for a, _ in logged],
                                                       [b for _, b in logged]))
            total = statistics.median(b for _, b in plain)
            print(f"{name:42} {p:13.3f} {q:10.3f} {q / p:7.3f} {r:14.3f} {r / total:7.3f} {total / r:10.3f}x"
                  f"   (median of {repeats})")


if __name__ == "__main__":
    main()
