#!/usr/bin/env python
"""The default MNIST recipe's speed on this machine's device (a GPU where JAX or TensorFlow sees one), beside Keras.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/recipe_speed.py [--epochs 90] [--repeats 3] [--no-augment]

`train-mnist`'s recipe with its default callbacks (TensorBoard logs, backups,
NaN guard), against a plain Keras `fit` of the same model, compiled alike
(`logging_overhead.mnist_case`), alternating, median of --repeats. Prints the
device, then for each: seconds (compilation included), samples/s, steps/s,
and steady-state samples/s (epochs after the first). Timings are printed, never asserted.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from augmentation_cost import EpochTimes
from logging_overhead import mnist_case

from polykeras import backend
from polykeras.data import load_mnist
from polykeras.mnist import MNIST_BATCH_SIZE


def device():
    """The device the backend computes on, in words."""
    if backend.name() == "jax":
        import jax

        devices = jax.devices()
        return f"{len(devices)} x {devices[0].platform} ({devices[0].device_kind})"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return ", ".join(d.name for d in gpus) or "cpu"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    args = parser.parse_args()
    timers = []  # one per run, the last one the current run's

    def epoch_timer():
        timers.append(EpochTimes())
        return [timers[-1]]

    run = mnist_case(args.epochs, args.augment, callbacks=epoch_timer)
    samples = len(load_mnist("sample")[0][0])  # what mnist_case trains on
    steps_per_epoch = -(-samples // MNIST_BATCH_SIZE)
    rows = {"plain Keras fit, same model": [], "polykeras recipe, default callbacks": []}
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.repeats):
            for name, logged in zip(rows, (False, True), strict=True):
                seconds = run(os.path.join(root, str(time.monotonic_ns())) if logged else None)
                rows[name].append((seconds, statistics.median(timers[-1].seconds[1:])))
    print(
        f"{backend.name()} on {device()}: {args.epochs} epochs of {samples} digits, batch {MNIST_BATCH_SIZE}, "
        f"augmented: {args.augment}; keras {keras.__version__}; median of {args.repeats}"
    )
    print(f"{'':38} {'seconds':>8} {'samples/s':>10} {'steps/s':>8} {'steady samples/s':>17}")
    for name, values in rows.items():
        seconds = statistics.median(s for s, _ in values)
        epoch = statistics.median(e for _, e in values)
        print(
            f"{name:38} {seconds:8.2f} {args.epochs * samples / seconds:10,.0f} "
            f"{args.epochs * steps_per_epoch / seconds:8,.0f} {samples / epoch:17,.0f}"
        )
    plain, ours = (statistics.median(s for s, _ in v) for v in rows.values())
    print(f"throughput, polykeras / plain: {plain / ours:.3f}x")


if __name__ == "__main__":
    main()
