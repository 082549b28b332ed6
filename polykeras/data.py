"""Data for polykeras: synthetic polynomial samples, CSV files, and MNIST.

Everything here returns plain NumPy arrays and validates what it reads, raising
`ValueError` with the offending value in the message.
"""

import csv
import math
import os

import numpy as np


def parse_floats(text, name):
    """Parses a comma-separated list of finite numbers such as `"1,2,3"`.

    Args:
        text: The string to parse.
        name: The option's name, used in error messages.

    Returns:
        A list of floats.
    """
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers. Received: {name}={text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite numbers. Received: {name}={text!r}")
    return values


def check_xy(x, y):
    """Checks that `x` and `y` are finite 1-D float arrays of equal, non-zero length.

    Returns:
        `(x, y)` as float64 arrays of shape `(n,)`.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length. Received: {len(x)} x and {len(y)} y values")
    if len(x) == 0:
        raise ValueError("the data must not be empty. Received: 0 points")
    for name, values in (("x", x), ("y", y)):
        bad = ~np.isfinite(values)
        if bad.any():
            index = int(np.argmax(bad))
            raise ValueError(f"{name} must be finite. Received: {name}[{index}]={values[index]}")
    return x, y


def synthetic_polynomial(true_coefficients, samples=100, noise=0.1, x_range=(-1.0, 1.0), seed=0):
    """Samples `y = sum_k c_k x**k + noise` on evenly spaced x, as the seed program does.

    Args:
        true_coefficients: Power-basis coefficients, lowest degree first.
        samples: Number of points (at least 1).
        noise: Standard deviation of the Gaussian noise added to y (>= 0).
        x_range: `(low, high)` with `low < high`.
        seed: Seed of the noise.

    Returns:
        `(x, y)`, float64 arrays of shape `(samples,)`.

    Example:

    >>> x, y = synthetic_polynomial([1, 2, 3], samples=3, noise=0.0)
    >>> y.tolist()
    [2.0, 1.0, 6.0]
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer. Received: samples={samples!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0. Received: noise={noise!r}")
    low, high = x_range
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"x_range must be two finite numbers, low < high. Received: x_range={low},{high}")
    x = np.linspace(low, high, samples)
    y = np.polynomial.polynomial.polyval(x, np.asarray(true_coefficients, dtype=np.float64))
    y = y + noise * np.random.default_rng(seed).standard_normal(samples)
    return check_xy(x, y)


def load_csv(path, x_column="x", y_column="y"):
    """Reads two numeric columns of a CSV file with a header row.

    Args:
        path: The CSV file.
        x_column: Header of the x column.
        y_column: Header of the y column.

    Returns:
        `(x, y)`, float64 arrays.
    """
    if not os.path.isfile(path):
        raise ValueError(f"CSV file not found. Received: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"cannot read CSV file {path}: {e}") from None
    missing = [c for c in (x_column, y_column) if c not in header]
    if missing:
        raise ValueError(
            f"CSV file {path} has no column {missing[0]!r}. Received columns: {', '.join(header) or 'none'}"
        )
    columns = {x_column: [], y_column: []}
    for line, row in enumerate(rows, start=2):
        for name, values in columns.items():
            try:
                values.append(float(row[name]))
            except (TypeError, ValueError):
                raise ValueError(
                    f"CSV file {path}, line {line}: column {name!r} is not a number. Received: {row[name]!r}"
                ) from None
    return check_xy(columns[x_column], columns[y_column])
