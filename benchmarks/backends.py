#!/usr/bin/env python
"""TensorFlow, JAX and PyTorch side by side in one run: each measurement in a fresh process per backend.

    .venv/bin/python benchmarks/backends.py [--seeds 0 1 2] [--repeats 3] [--epochs 20]

Prints, with the three backends as columns:
1. steady-state training throughput of a plain Keras MLP (784-512-512-10, ReLU,
   Adam, batch 128, no augmentation, the sample's 4,000 digits), samples/s in
   epochs after the first, from interleaved runs;
2. the default `train-mnist` recipe's model trained --epochs epochs with
   polykeras's default callbacks (TensorBoard logs, budgeted backups, NaN
   guard, as `train-mnist` runs it) against a plain Keras `fit` of the same
   model and compile, alternating, --repeats pairs: the throughput ratio
   (plain time over logged time; 1.0 means free);
3. the default recipe (90 epochs) on each backend: training seconds and
   accuracy on the sample's 1,000 held-out digits, per seed;
4. the seed-parity run (monomial basis, SGD 0.01, 1000 epochs) against the
   TF1 program on the same data in the same process: coefficient difference
   and time, median of --repeats;
5. fit-poly's defaults on each backend: the first epoch whose coefficients are
   within 1e-3 of least squares.
Timings are printed, never asserted.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

BACKENDS = ("tensorflow", "jax", "torch")
THROUGHPUT_EPOCHS = 6
BATCH_SIZE = 128


def child(task, args):
    """Runs one measurement in this process (its backend is KERAS_BACKEND) and prints it as JSON."""
    import time

    import keras
    import numpy as np

    import polykeras
    from polykeras.polynomial import relative_gap
    from polykeras.polynomial_panel import CoefficientHistory

    *digits, _ = polykeras.load_mnist("sample")
    if task == "throughput":
        (x, y), _ = digits
        layers = keras.layers
        model = keras.Sequential(
            [
                keras.Input((28, 28)),
                layers.Rescaling(1 / 255),
                layers.Flatten(),
                layers.Dense(512, activation="relu"),
                layers.Dense(512, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        times = []

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.start)

        model.fit(
            x.astype("float32"), y, batch_size=BATCH_SIZE, epochs=THROUGHPUT_EPOCHS, callbacks=[Clock()], verbose=0
        )
        return {"samples_per_second": len(x) / statistics.median(times[1:])}
    if task == "callbacks":
        import tempfile

        sys.path.insert(0, os.path.dirname(__file__))
        from logging_overhead import mnist_case

        run = mnist_case(args.epochs, augment=True)
        plain, logged = [], []
        for _ in range(args.repeats):  # alternating, so that load on the machine hits both alike
            plain.append(run(None))
            with tempfile.TemporaryDirectory() as folder:
                logged.append(run(folder))
        return {"plain": plain, "logged": logged}
    if task == "recipe":
        result = polykeras.train_mnist(digits, seed=args.seed)
        return {"seconds": result.train_seconds, "accuracy": result.test_accuracy}
    if task == "parity":
        from polykeras.seed import run_seed_program

        x, y = polykeras.synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
        ours, theirs = [], []
        for _ in range(args.repeats):
            fit = polykeras.fit_polynomial(x, y, degree=5, basis="monomial", learning_rate=0.01, epochs=1000)
            start = time.perf_counter()
            polykeras.fit_polynomial(x, y, degree=5, basis="monomial", learning_rate=0.01, epochs=1000)
            ours.append(time.perf_counter() - start)  # tracing included, as a user sees it
            seed_w, seed_seconds = run_seed_program(x, y, steps=1000)
            theirs.append(seed_seconds)
        return {
            "difference": float(np.max(np.abs(fit.coefficients - seed_w))),
            "polykeras": statistics.median(ours),
            "tf1": statistics.median(theirs),
        }
    if task == "defaults":
        x, y = polykeras.synthetic_polynomial([1, 2, 3], samples=100, noise=0.1)
        history = CoefficientHistory()
        fit = polykeras.fit_polynomial(x, y, degree=5, callbacks=[history])
        gaps = [relative_gap(c, fit.least_squares_coefficients) for c in history.coefficients[1:]]
        return {
            "epochs_to_1e-3": next(k for k, g in enumerate(gaps, 1) if g <= 1e-3),
            "final_gap": gaps[-1],
            "epochs": fit.epochs,
        }
    raise SystemExit(f"unknown task {task}")


def measure(task, backend, *flags):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", task, *flags], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--child")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return

    print(f"1. Plain Keras MLP, batch {BATCH_SIZE}, no augmentation: samples/s after the first epoch")
    rates = {b: [] for b in BACKENDS}
    for _ in range(args.repeats):  # interleaved, so that load on the machine hits every backend alike
        for backend in BACKENDS:
            rates[backend].append(measure("throughput", backend)["samples_per_second"])
    for backend in BACKENDS:
        print(
            f"   {backend:10} "
            + " ".join(f"{r:8,.0f}" for r in rates[backend])
            + f"   median {statistics.median(rates[backend]):8,.0f}"
        )

    print(
        f"\n2. The recipe's model, {args.epochs} epochs: polykeras's default callbacks against plain Keras fit, "
        f"{args.repeats} pairs (seconds, and throughput as plain / logged)"
    )
    for backend in BACKENDS:
        pairs = measure("callbacks", backend, "--epochs", str(args.epochs), "--repeats", str(args.repeats))
        ratios = [p / q for p, q in zip(pairs["plain"], pairs["logged"], strict=True)]
        print(
            f"   {backend:10} plain "
            + " / ".join(f"{t:.1f}" for t in pairs["plain"])
            + " s, logged "
            + " / ".join(f"{t:.1f}" for t in pairs["logged"])
            + " s: throughput "
            + " ".join(f"{r:.3f}" for r in ratios)
            + f" (median {statistics.median(ratios):.3f})"
        )

    print("\n3. Default train-mnist recipe (2x512, augmentation, 90 epochs, batch 128), the sample's 4,000/1,000")
    recipe = {b: [] for b in BACKENDS}
    for seed in args.seeds:
        for backend in BACKENDS:
            recipe[backend].append(measure("recipe", backend, "--seed", str(seed)))
    for backend in BACKENDS:
        rows = recipe[backend]
        print(
            f"   {backend:10} accuracy "
            + " / ".join(f"{100 * r['accuracy']:.1f}" for r in rows)
            + f" % (mean {100 * statistics.mean(r['accuracy'] for r in rows):.2f}), training "
            + " / ".join(f"{r['seconds']:.1f}" for r in rows)
            + f" s (mean {statistics.mean(r['seconds'] for r in rows):.1f})"
        )

    print(f"\n4. Seed parity (monomial, SGD 0.01, 1000 epochs) against the TF1 program, median of {args.repeats}")
    for backend in BACKENDS:
        parity = measure("parity", backend, "--repeats", str(args.repeats))
        print(
            f"   {backend:10} max |difference| {parity['difference']:.1e}; polykeras {parity['polykeras']:.3f} s, "
            f"TF1 {parity['tf1']:.3f} s, ratio {parity['polykeras'] / parity['tf1']:.2f}"
        )

    print("\n5. fit-poly defaults (Legendre, SGD 0.4, 20 epochs), the seed's data")
    for backend in BACKENDS:
        defaults = measure("defaults", backend)
        print(
            f"   {backend:10} gap <= 1e-3 after {defaults['epochs_to_1e-3']} epochs; "
            f"gap after {defaults['epochs']}: {defaults['final_gap']:.1e}"
        )


if __name__ == "__main__":
    main()
