#!/usr/bin/env python
"""How well and how cheaply the default search finds MNIST's learning rate.

    .venv/bin/python benchmarks/tuning_quality.py [--max-epochs 9] [--skip-workers]

Side by side on the bundled sample (3,400 training, 600 validation digits):
1. an exhaustive 13-point log grid over 1e-4 ... 1e-1, each rate trained --max-epochs;
2. the default Hyperband search (`polykeras tune mnist`), same max epochs;
3. the learning-rate range test's suggestion, trained --max-epochs.
Prints best validation accuracy and epochs trained for each, the gap in
points and the epoch ratio; then the wall time of the default search with 1
and 2 workers (`--workers`). Figures are printed, never asserted.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_tuner

from polykeras.data import load_mnist
from polykeras.search import tuners
from polykeras.search.spec import SearchSpec
from polykeras.tasks import MnistTask


def search(name, data, max_epochs, directory, grid=False):
    task = MnistTask.from_data(data, max_epochs=max_epochs, grid=grid)
    spec = SearchSpec(
        "mnist",
        task.options(),
        tuner=name,
        max_trials=13,
        max_epochs=max_epochs,
        directory=directory,
        project_name=name,
    )
    tuner = tuners.make_tuner(spec, task)
    start = time.perf_counter()
    tuner.search(epochs=max_epochs, verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    return (
        best.score,
        best.hyperparameters.values["learning_rate"],
        tuners.trained_epochs(tuner, max_epochs),
        time.perf_counter() - start,
    )


def range_test(data, max_epochs):
    hypermodel = MnistTask.from_data(data, max_epochs=max_epochs)
    suggestion = hypermodel.lr_find().suggestion
    hp = keras_tuner.HyperParameters()
    hp.Fixed("learning_rate", suggestion)
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, epochs=max_epochs, verbose=0)
    return max(history.history["val_accuracy"]), suggestion


def workers_wall_time(workers, max_epochs, directory):
    start = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "polykeras_cli",
        "tune",
        "mnist",
        "--data",
        "sample",
        "--max-epochs",
        str(max_epochs),
        "--directory",
        directory,
        "--project-name",
        f"w{workers}",
        "--json",
        os.path.join(directory, f"w{workers}.json"),
        *(["--workers", str(workers)] if workers else []),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(directory, f"w{workers}.json")) as f:
        best = json.load(f)["best_score"]
    return time.perf_counter() - start, best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--skip-workers", action="store_true")
    args = parser.parse_args()
    *data, _ = load_mnist("sample")
    with tempfile.TemporaryDirectory() as root:
        grid = search("grid", data, args.max_epochs, root, grid=True)
        default = search("hyperband", data, args.max_epochs, root)
        found, suggestion = range_test(data, args.max_epochs)
        print(f"MNIST sample, best validation accuracy, {args.max_epochs} epochs at most per rate:")
        print(f"  {'':34} {'accuracy':>9} {'rate':>9} {'epochs':>7} {'seconds':>8}")
        for label, (score, rate, epochs, seconds) in (
            ("13-point log grid", grid),
            ("default search (Hyperband)", default),
        ):
            print(f"  {label:34} {100 * score:8.2f}% {rate:9.3g} {epochs:7d} {seconds:8.1f}")
        print(f"  {'LR range test suggestion':34} {100 * found:8.2f}% {suggestion:9.3g} {args.max_epochs:7d}")
        print(
            f"  search vs grid: {100 * (default[0] - grid[0]):+.2f} points at {default[2] / grid[2]:.0%} of the epochs"
        )
        if not args.skip_workers:
            one, best_one = workers_wall_time(1, args.max_epochs, root)
            two, best_two = workers_wall_time(2, args.max_epochs, root)
            print(
                f"default search wall time: 1 worker {one:.1f} s (best {100 * best_one:.2f}%), "
                f"2 workers {two:.1f} s (best {100 * best_two:.2f}%), ratio {two / one:.2f}"
            )


if __name__ == "__main__":
    main()
