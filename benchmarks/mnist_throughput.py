#!/usr/bin/env python
"""Samples per second of `fit`: polykeras's MNIST MLP with its default callbacks against plain Keras.

    .venv/bin/python benchmarks/mnist_throughput.py [--epochs 6] [--repeats 3]

Both train the same layers (rescaling, the three augmentation layers, 512-512
dense, dropout) with the same batch size on the bundled sample, alternating,
and the median of --repeats runs is compared. polykeras runs exactly what
`train-mnist` runs: its NaN guard, BackupAndRestore and polykeras's TensorBoard
callback, and its own loss (label smoothing) and learning-rate schedule. Timings are printed, never asserted.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from polykeras.data import load_mnist
from polykeras.mnist import MNIST_BATCH_SIZE, train_mnist

BATCH_SIZE = MNIST_BATCH_SIZE


def plain_keras_model():
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28), dtype="uint8"),
            layers.Rescaling(1.0 / 255.0),
            layers.Reshape((28, 28, 1)),
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant"),
            layers.RandomRotation(0.03, fill_mode="constant"),
            layers.RandomZoom(0.08, fill_mode="constant"),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )


def plain_keras(x, y, epochs):
    keras.utils.set_random_seed(0)
    model = plain_keras_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    return epochs * len(x) / (time.perf_counter() - start)


def polykeras(data, epochs, workdir):
    # What train-mnist runs: its logger and BackupAndRestore in a fresh folder of runs.
    result = train_mnist(
        data, epochs=epochs, batch_size=BATCH_SIZE, seed=0, runs_dir=os.path.join(workdir, str(time.monotonic_ns()))
    )
    return result.samples_per_second


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    *data, _ = load_mnist("sample")
    (x, y), _ = data
    plain, ours = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.repeats):
            plain.append(plain_keras(x, y, args.epochs))
            ours.append(polykeras(data, args.epochs, workdir))
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"fit throughput, {len(x)} images x {args.epochs} epochs, batch {BATCH_SIZE}, median of {args.repeats}:")
    print(f"  plain Keras                          {p:8,.0f} samples/s   {[round(v) for v in plain]}")
    print(f"  polykeras (default callbacks)        {o:8,.0f} samples/s   {[round(v) for v in ours]}")
    print(f"  ratio polykeras / plain Keras        {o / p:8.3f}")


if __name__ == "__main__":
    main()
