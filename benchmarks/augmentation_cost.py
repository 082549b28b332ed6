#!/usr/bin/env python
"""What augmentation costs per epoch: `train-mnist` with and without it, and with several steps per execution.

    .venv/bin/python benchmarks/augmentation_cost.py [--epochs 8] [--repeats 3] [--steps-per-execution 1 8]

Runs the recipe as `polykeras train-mnist --data sample` does (default
callbacks: TensorBoard logs, backups, NaN guard), alternating the variants,
and prints the median epoch time (epochs after the first, which compiles),
the augmented epoch over the plain one, and each variant's speed-up from
`steps_per_execution`. Timings are printed, never asserted.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from polykeras import backend
from polykeras.data import load_mnist
from polykeras.mnist import train_mnist


class EpochTimes(keras.callbacks.Callback):
    """Wall seconds of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def epoch_ms(data, epochs, augment, steps_per_execution, root):
    timer = EpochTimes()
    train_mnist(
        data,
        epochs=epochs,
        augment=augment,
        steps_per_execution=steps_per_execution,
        callbacks=[timer],
        runs_dir=os.path.join(root, str(time.monotonic_ns())),
    )
    return 1000 * statistics.median(timer.seconds[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps-per-execution", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    *data, _ = load_mnist("sample")
    variants = [(augment, k) for k in args.steps_per_execution for augment in (False, True)]
    times = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.repeats):
            for augment, k in variants:
                times[augment, k].append(epoch_ms(data, args.epochs, augment, k, root))
    ms = {variant: statistics.median(values) for variant, values in times.items()}
    base = args.steps_per_execution[0]
    print(
        f"train-mnist --data sample, default callbacks, {backend.name()}: ms per epoch (median of epochs 2-"
        f"{args.epochs}, then of {args.repeats} runs)"
    )
    print(
        f"{'steps/execution':>16} {'plain':>8} {'augmented':>10} {'aug/plain':>10} {'plain gain':>11} {'aug gain':>9}"
    )
    for k in args.steps_per_execution:
        plain, augmented = ms[False, k], ms[True, k]
        print(
            f"{k:16d} {plain:8.1f} {augmented:10.1f} {augmented / plain:10.2f} {ms[False, base] / plain:10.2f}x "
            f"{ms[True, base] / augmented:8.2f}x"
        )


if __name__ == "__main__":
    main()
