#!/usr/bin/env python
"""Test accuracy on the bundled sample: polykeras's default recipe against plain-Keras baselines.

    .venv/bin/python benchmarks/mnist_accuracy.py [--seeds 0 1 2] [--data sample]

All train on the same 4,000 real digits and are scored on the same 1,000
held-out ones (or on MNIST's own split with --data keras). The baselines are
the Keras "quickstart" MLP (Dense 128, dropout 0.2, Adam, 5 epochs) and the
classic 2x512 RMSprop MLP (20 epochs). Figures are printed, never asserted.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from polykeras.data import load_mnist
from polykeras.diagnostics import accuracy
from polykeras.mnist import train_mnist


def plain(data, hidden, dropout, optimizer, epochs, seed):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((28, 28)), keras.layers.Flatten()]
    for units in hidden:
        layers += [keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(dropout)]
    model = keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train / 255.0, y_train, batch_size=128, epochs=epochs, verbose=0)
    return accuracy(model, x_test / 255.0, y_test), time.perf_counter() - start


def polykeras_default(data, seed):
    result = train_mnist(data, seed=seed)
    return result.test_accuracy, result.train_seconds


RECIPES = {
    "plain Keras quickstart (128, Adam, 5 epochs)": lambda d, s: plain(d, (128,), 0.2, "adam", 5, s),
    "Keras mnist_mlp example (2x512, RMSprop, 20 epochs)": lambda d, s: plain(d, (512, 512), 0.2, "rmsprop", 20, s),
    "polykeras default recipe": polykeras_default,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", default="sample")
    args = parser.parse_args()
    *data, source = load_mnist(args.data)
    print(f"data: {source}, {len(data[0][0])} training and {len(data[1][0])} test images")
    print(f"{'recipe':46} {'accuracy per seed':>28} {'mean':>8} {'train s':>8}")
    for name, recipe in RECIPES.items():
        runs = [recipe(data, seed) for seed in args.seeds]
        accs = [a for a, _ in runs]
        print(
            f"{name:46} {' '.join(f'{100 * a:.2f}' for a in accs):>28} {100 * np.mean(accs):8.2f}"
            f" {statistics.median(s for _, s in runs):8.1f}"
        )


if __name__ == "__main__":
    main()
