"""Data for polykeras: synthetic polynomial samples, CSV files, and MNIST.

Everything here returns plain NumPy arrays and validates what it reads, raising
`InvalidArgumentError` (a `ValueError`) with the offending value in the message.
"""

import csv
import logging
import math
import os
import zipfile
from importlib import resources

import numpy as np

from polykeras.checks import check_int, check_number
from polykeras.errors import InvalidArgumentError, RunError


def check_xy(x, y):
    """Checks that `x` and `y` are finite 1-D float arrays of equal, non-zero length.

    Returns:
        `(x, y)` as float64 arrays of shape `(n,)`.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(x) != len(y):
        raise InvalidArgumentError(f"x and y must have the same length. Received: {len(x)} x and {len(y)} y values")
    if len(x) == 0:
        raise InvalidArgumentError("the data must not be empty. Received: 0 points")
    for name, values in (("x", x), ("y", y)):
        bad = ~np.isfinite(values)
        if bad.any():
            index = int(np.argmax(bad))
            raise InvalidArgumentError(f"{name} must be finite. Received: {name}[{index}]={values[index]}")
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
    check_int(samples, "samples")
    check_number(noise, "noise", at_least=0)
    low, high = x_range
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InvalidArgumentError(f"x_range must be two finite numbers, low < high. Received: x_range={low},{high}")
    x = np.linspace(low, high, samples)
    y = np.polynomial.polynomial.polyval(x, np.asarray(true_coefficients, dtype=np.float64))
    y = y + noise * np.random.default_rng(seed).standard_normal(samples)
    return check_xy(x, y)


def load_csv(path, x_column="x", y_column="y"):
    """Reads two numeric columns of a CSV file with a header row.

    Well-formed files are read by polars' multithreaded parser (a 10^7-row
    file in under a second, where `numpy.loadtxt` takes six, with the same
    float64 values). A file it cannot read as two complete float columns is
    read again row by row, to name the first bad line in the error.

    Args:
        path: The CSV file.
        x_column: Header of the x column.
        y_column: Header of the y column.

    Returns:
        `(x, y)`, float64 arrays.
    """
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"CSV file not found. Received: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InvalidArgumentError(f"cannot read CSV file {path}: {e}") from None
    missing = [c for c in (x_column, y_column) if c not in header]
    if missing:
        raise InvalidArgumentError(
            f"CSV file {path} has no column {missing[0]!r}. Received columns: {', '.join(header) or 'none'}"
        )
    import polars

    try:
        frame = polars.read_csv(
            path, columns=[x_column, y_column], schema_overrides={x_column: polars.Float64, y_column: polars.Float64}
        )
        x, y = (frame[name].to_numpy() for name in (x_column, y_column))
    except Exception:
        return _load_csv_rows(path, x_column, y_column)
    if np.isnan(x).any() or np.isnan(y).any():  # empty fields and NaN: say which line
        return _load_csv_rows(path, x_column, y_column)
    return check_xy(x, y)


def _load_csv_rows(path, x_column, y_column):
    """`load_csv`, one row at a time, raising `InvalidArgumentError` at the first bad line."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InvalidArgumentError(f"cannot read CSV file {path}: {e}") from None
    columns = {x_column: [], y_column: []}
    for line, row in enumerate(rows, start=2):
        for name, values in columns.items():
            try:
                values.append(float(row[name]))
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"CSV file {path}, line {line}: column {name!r} is not a number. Received: {row[name]!r}"
                ) from None
    return check_xy(columns[x_column], columns[y_column])


# ----------------------------------------------------------------------------
# MNIST

MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_SOURCES = ("auto", "keras", "sample")
# Shipped in the wheel beside its provenance and licence (resources/MNIST_SAMPLE.md).
SAMPLE_FILE = "mnist_sample.npz"
SAMPLE_ORDER_SEED = 0


def check_mnist_arrays(arrays, origin):
    """Validates MNIST arrays in Keras's layout.

    Args:
        arrays: Mapping with `x_train, y_train, x_test, y_test`.
        origin: Where they came from, for error messages.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: uint8 images `(N, 28, 28)`
        and int64 labels `(N,)` in 0..9.
    """
    missing = [k for k in MNIST_KEYS if k not in arrays]
    if missing:
        raise InvalidArgumentError(
            f"{origin} lacks the key {missing[0]!r} (needs {', '.join(MNIST_KEYS)}). "
            f"Received keys: {', '.join(arrays) or 'none'}"
        )
    parts = []
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.dtype != np.uint8:
            raise InvalidArgumentError(f"{origin}: x_{split} must be uint8 images. Received: dtype {x.dtype}")
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise InvalidArgumentError(f"{origin}: x_{split} must have shape (N, 28, 28). Received: {x.shape}")
        if len(x) == 0:
            raise InvalidArgumentError(f"{origin}: x_{split} is empty. Received: shape {x.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise InvalidArgumentError(f"{origin}: y_{split} must be integer labels. Received: dtype {y.dtype}")
        if y.shape != (len(x),):
            raise InvalidArgumentError(f"{origin}: y_{split} must have shape ({len(x)},). Received: {y.shape}")
        if y.min() < 0 or y.max() > 9:
            bad = y[(y < 0) | (y > 9)][0]
            raise InvalidArgumentError(f"{origin}: y_{split} labels must be 0-9. Received: a label {bad}")
        parts.append((x, y.astype(np.int64)))
    return tuple(parts)


def load_mnist_npz(path):
    """Loads MNIST arrays from an `.npz` with Keras's keys; see `check_mnist_arrays`."""
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"MNIST file not found. Received: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InvalidArgumentError("it holds one array, not Keras's four named ones")
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise InvalidArgumentError(f"{path} is not a readable .npz file ({type(e).__name__}: {e})") from None
    return check_mnist_arrays(arrays, path)


def load_mnist_sample():
    """The 5,000 real digits shipped in the package, split 4,000/1,000; see `check_mnist_arrays`.

    The file holds each part sorted by label; both come back in one seeded
    random order, the same every time, so that a slice of them (the last
    fifth as validation, say) holds every digit. Found with
    `importlib.resources`, so it loads from an installed wheel (even a
    zipped one) as from a source checkout.
    """
    with resources.as_file(resources.files("polykeras.resources") / SAMPLE_FILE) as path:
        parts = load_mnist_npz(str(path))
    rng = np.random.default_rng(SAMPLE_ORDER_SEED)
    return tuple((x[order], y[order]) for x, y in parts for order in [rng.permutation(len(x))])


def load_mnist(source="auto"):
    """Loads MNIST as uint8 images and integer labels.

    Args:
        source: `"keras"`, the full 60k/10k set through
            `keras.datasets.mnist.load_data()` (Keras's download and cache);
            `"sample"`, 5,000 real digits shipped in the package, split
            4,000/1,000 (no download); a path to an `.npz` with Keras's keys;
            or `"auto"` (default): `keras` when cached or downloadable, else
            `sample` with a one-line warning on stderr.

    Returns:
        `((x_train, y_train), (x_test, y_test), source)`, where `source` says
        what was loaded (`"keras"`, `"sample"` or the path).

    Example:

    >>> (x_train, y_train), (x_test, y_test), used = load_mnist("sample")
    >>> x_train.shape, x_test.shape, used
    ((4000, 28, 28), (1000, 28, 28), 'sample')
    """
    if source == "sample":
        return (*load_mnist_sample(), "sample")
    if source in ("keras", "auto"):
        import keras

        try:
            arrays = dict(zip(MNIST_KEYS, (a for pair in keras.datasets.mnist.load_data() for a in pair), strict=True))
        except Exception as e:  # Keras raises plain Exception when the download fails.
            if source == "keras":
                raise RunError(f"cannot load MNIST through Keras: {e}") from None
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]  # whole: its end says why
            logging.getLogger(__name__).warning(
                "full MNIST unavailable (%s); using the bundled 5,000-digit sample", reason
            )
            return (*load_mnist_sample(), "sample")
        return (*check_mnist_arrays(arrays, "keras.datasets.mnist"), "keras")
    if source.endswith(".npz") or os.path.sep in source:
        return (*load_mnist_npz(source), source)
    raise InvalidArgumentError(
        f"source must be {', '.join(MNIST_SOURCES)} or a path to an .npz file. Received: source={source!r}", "source"
    )


def read_digit(path):
    """A PNG/JPEG of any size as a 28x28 uint8 digit, light on dark like MNIST.

    Dark ink on light paper (a bright border) is inverted.

    Raises:
        InvalidArgumentError: for a missing or unreadable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L").resize((28, 28), Image.Resampling.LANCZOS), dtype=np.uint8)
    except FileNotFoundError:
        raise InvalidArgumentError(f"image not found. Received: {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as e:
        raise InvalidArgumentError(f"not a readable image. Received: {path} ({type(e).__name__})") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 255 - gray if border.mean() > 127 else gray  # dark ink on light paper


def save_arrays(path, x, y, validation_data=None):
    """Writes a model's data to an `.npz` as `load_arrays` reads it.

    Keys: `x` (or `x_0`, `x_1`, ... for several inputs), `y` (or `y_0`, ...),
    and `x_val`, `y_val` likewise for `validation_data`.

    Raises:
        InvalidArgumentError: for inputs given as a dict, which this format does not hold.
    """
    arrays = {}
    parts = [("x", x), ("y", y)] + (
        [("x_val", validation_data[0]), ("y_val", validation_data[1])] if validation_data is not None else []
    )
    for key, value in parts:
        if isinstance(value, dict):
            raise InvalidArgumentError(
                f"{key} as a dict cannot be written to an .npz of arrays; give the inputs as "
                f"a list in the model's order. Received: {key} with keys {sorted(value)}",
                key,
            )
        if isinstance(value, (list, tuple)):
            arrays.update({f"{key}_{i}": np.asarray(v) for i, v in enumerate(value)})
        else:
            arrays[key] = np.asarray(value)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_arrays(path):
    """`(x, y, validation_data)` from an `.npz` written by `save_arrays`, or by hand with its keys or Keras's.

    Keys: `x` (or `x_0`, `x_1`, ... for several inputs) and `y`, or Keras's
    `x_train` and `y_train` (as `keras.datasets` and `train-mnist --data`
    name them; a test part, `x_test` and `y_test`, is left out); `x_val`
    and `y_val` for `validation_data`, which is None without them.

    Raises:
        InvalidArgumentError: when the file is not a readable `.npz` holding x (or x_0, ..., or x_train) and y.
    """
    try:
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(
            f"data must be an .npz file with arrays x and y ({e}). Received: data={path!r}", "data"
        ) from None

    def take(key):
        if key in arrays:
            return arrays[key]
        numbered = sorted(
            (int(k[len(key) + 1 :]), k) for k in arrays if k.startswith(f"{key}_") and k[len(key) + 1 :].isdigit()
        )
        return [arrays[k] for _, k in numbered] or None

    x, y = take("x"), take("y")
    if x is None and y is None:  # Keras's keys
        x, y = take("x_train"), take("y_train")
    if x is None or y is None:
        raise InvalidArgumentError(
            f"data must hold arrays x (or x_0, x_1, ..., or Keras's x_train) and y (or "
            f"y_train). Received: data={path!r} with {', '.join(sorted(arrays)) or 'no arrays'}",
            "data",
        )
    x_val, y_val = take("x_val"), take("y_val")
    return x, y, None if x_val is None or y_val is None else (x_val, y_val)
