#!/usr/bin/env python
"""Chooses the MNIST recipe on a validation split carved from the 4,000 training digits.

    .venv/bin/python benchmarks/mnist_recipe_search.py [--seeds 0 1 2] [--jobs 1] [--recipes NAME ...]

The sample's 1,000 held-out digits are never read here: each recipe trains on
3,200 of the 4,000 training digits, drawn at random once, and is scored on the
other 800.
Each recipe and seed runs in its own process (`--jobs` at a time), and the
table gives the validation accuracy per seed, the mean and the training time.
The recipe with the best mean that fits the time budget becomes the default.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

VALIDATION = 800
BASE = {"hidden": [512, 512], "epochs": 60, "batch_size": 64, "dropout": 0.2}
RECIPES = {
    "base (2x512, 60 epochs)": {},
    "deskew + elastic 1.5, 90 epochs, dropout 0.1": {"deskew": True, "elastic": 1.5, "epochs": 90, "dropout": 0.1},
    "... batch 128": {"deskew": True, "elastic": 1.5, "epochs": 90, "dropout": 0.1, "batch_size": 128},
    "... batch 128, lr 2e-3": {
        "deskew": True,
        "elastic": 1.5,
        "epochs": 90,
        "dropout": 0.1,
        "batch_size": 128,
        "learning_rate": 2e-3,
    },
    "... batch 128, 120 epochs": {"deskew": True, "elastic": 1.5, "epochs": 120, "dropout": 0.1, "batch_size": 128},
    "... elastic 2": {"deskew": True, "elastic": 2.0, "epochs": 90, "dropout": 0.1},
    "... 60 epochs": {"deskew": True, "elastic": 1.5, "epochs": 60, "dropout": 0.1},
}


def run_one(settings, seed):
    """Trains one recipe on 3,200 digits and scores it on the 800 held back from them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from polykeras.data import load_mnist
    from polykeras.mnist import train_mnist

    (x, y), _, _ = load_mnist("sample")  # the test part is not used
    order = np.random.default_rng(2026).permutation(len(x))  # the sample is sorted by label
    train, validation = order[:-VALIDATION], order[-VALIDATION:]
    data = (x[train], y[train]), (x[validation], y[validation])
    recipe = {**BASE, **settings}
    result = train_mnist(data, seed=seed, **{**recipe, "hidden": tuple(recipe["hidden"])})
    return {"accuracy": result.test_accuracy, "seconds": result.train_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one recipe, one seed
        print(json.dumps(run_one(RECIPES[args.one], args.seeds[0])))
        return

    def child(task):
        name, seed = task
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--seeds", str(seed)], capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    tasks = [(name, seed) for name in args.recipes for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(tasks, pool.map(child, tasks), strict=True))
    print(f"validation: {VALIDATION} of the 4,000 training digits; seeds {args.seeds}")
    print(f"{'recipe':44} {'val accuracy per seed':>26} {'mean':>7} {'train s':>8}")
    for name in args.recipes:
        runs = [results[(name, seed)] for seed in args.seeds]
        accuracies = [r["accuracy"] for r in runs]
        per_seed = " ".join(f"{a:.2%}" for a in accuracies)
        seconds = statistics.mean(r["seconds"] for r in runs)
        print(f"{name:44} {per_seed:>26} {statistics.mean(accuracies):7.2%} {seconds:8.1f}")


if __name__ == "__main__":
    main()
