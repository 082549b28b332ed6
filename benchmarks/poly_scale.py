#!/usr/bin/env python
"""Large polynomial fits: `fit_polynomial` against `numpy.polynomial.Polynomial.fit`, and reading big CSV files.

    .venv/bin/python benchmarks/poly_scale.py [--sizes 1e5 1e6 1e7] [--csv-rows 1e7]

For each size, the same points (degree 8, x uniform in [-3, 7], Gaussian
noise) are fitted by numpy's least squares and by `fit_polynomial` with its
default settings (zero-initialised coefficients, 20 epochs of gradient
descent), each in a fresh process so that its peak memory (the process's
maximum RSS, imports included) is its own. Then a CSV file of --csv-rows rows
is read by `numpy.loadtxt` and by `polykeras.data.load_csv`, each in fresh
processes (median of --repeats). Prints the figures and their ratios;
nothing is asserted.
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHILD = """
import json, resource, sys, time
import numpy as np
n, which = int(float(sys.argv[1])), sys.argv[2]
rng = np.random.default_rng(0)
x = rng.uniform(-3, 7, n)
y = np.polynomial.Polynomial(rng.normal(size=9))(x) + rng.normal(size=n)
if which == "numpy":
    start = time.perf_counter()
    np.polynomial.Polynomial.fit(x, y, 8)
    seconds, gap = time.perf_counter() - start, None
else:
    from polykeras.polynomial import fit_polynomial
    start = time.perf_counter()
    result = fit_polynomial(x, y, degree=8)
    seconds, gap = time.perf_counter() - start, result.relative_coefficient_gap
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "gap": gap}))
"""


def measure(size, which):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(size), which], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


READ = """
import sys, time
start = time.perf_counter()
if sys.argv[2] == "numpy":
    import numpy as np
    x, y = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, unpack=True)
else:
    from polykeras.data import load_csv
    start = time.perf_counter()  # polykeras's own import (TensorFlow) is not the reader's
    x, y = load_csv(sys.argv[1])
print(time.perf_counter() - start, float(x.sum()), float(y.sum()))
"""


def csv_case(rows, repeats):
    """Median seconds of `numpy.loadtxt` and of `load_csv` (polars' import included), each in a fresh process."""
    import numpy as np
    import polars

    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 7, rows)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "points.csv")
        polars.DataFrame({"x": x, "y": 1 + 2 * x + 3 * x**2}).write_csv(path)
        times, sums = {"numpy": [], "polykeras": []}, {}
        for _ in range(repeats):
            for reader in times:
                out = subprocess.run(
                    [sys.executable, "-c", READ, path, reader], env=env, capture_output=True, text=True, check=True
                ).stdout.split()
                times[reader].append(float(out[0]))
                sums[reader] = out[1:]
        return (
            statistics.median(times["numpy"]),
            statistics.median(times["polykeras"]),
            sums["numpy"] == sums["polykeras"],
            os.path.getsize(path),
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    parser.add_argument("--csv-rows", type=float, default=1e7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("degree 8, x uniform in [-3, 7]; time of the call; peak RSS of its process (imports included)")
    print(
        f"{'points':>10} {'numpy s':>8} {'polykeras s':>12} {'ratio':>6} {'numpy MB':>9} {'polykeras MB':>13} "
        f"{'ratio':>6} {'gap':>9}"
    )
    rows = []
    for size in args.sizes:
        reference, ours = measure(size, "numpy"), measure(size, "polykeras")
        rows.append((size, ours["seconds"]))
        print(
            f"{int(size):>10,} {reference['seconds']:8.2f} {ours['seconds']:12.2f} "
            f"{ours['seconds'] / reference['seconds']:6.2f} {reference['peak_mb']:9.0f} {ours['peak_mb']:13.0f} "
            f"{ours['peak_mb'] / reference['peak_mb']:6.2f} {ours['gap']:9.1e}"
        )
    for (n0, t0), (n1, t1) in itertools.pairwise(rows):
        print(f"polykeras, {int(n0):,} -> {int(n1):,} points: {1e9 * (t1 - t0) / (n1 - n0):.0f} ns per added point")
    numpy_seconds, ours, same, size = csv_case(int(args.csv_rows), args.repeats)
    print(
        f"CSV of {int(args.csv_rows):,} rows ({size / 1e6:.0f} MB), median of {args.repeats} fresh processes: "
        f"numpy.loadtxt {numpy_seconds:.2f} s, polykeras.data.load_csv {ours:.2f} s (polars, import included), "
        f"{numpy_seconds / ours:.1f}x faster; same sums: {same}"
    )


if __name__ == "__main__":
    main()
