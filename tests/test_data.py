"""Data loading and validation."""

import numpy as np
import pytest

from polykeras.data import check_xy, load_csv, load_mnist, synthetic_polynomial


def test_synthetic_polynomial_without_noise():
    x, y = synthetic_polynomial([1, 2, 3], samples=5, noise=0.0, x_range=(0.0, 4.0))
    np.testing.assert_array_equal(x, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(y, [1, 6, 17, 34, 57])


def test_synthetic_noise_is_seeded():
    a = synthetic_polynomial([0], samples=1000, noise=0.1, seed=3)[1]
    b = synthetic_polynomial([0], samples=1000, noise=0.1, seed=3)[1]
    np.testing.assert_array_equal(a, b)
    assert 0.09 < a.std() < 0.11


def test_load_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("t,value,x\n0,1,9\n1,3.5,9\n")
    x, y = load_csv(path, x_column="t", y_column="value")
    np.testing.assert_array_equal(x, [0, 1])
    np.testing.assert_array_equal(y, [1, 3.5])


@pytest.mark.parametrize(
    "text, message",
    [
        ("x,y\n1,2\n2,abc\n", r"line 3: column 'y' is not a number. Received: 'abc'"),
        ("a,b\n1,2\n", r"has no column 'x'. Received columns: a, b"),
        ("x,y\n1,2\n2,inf\n", r"Received: y\[1\]=inf"),
        ("", r"has no column 'x'. Received columns: none"),
        ("a,b\n", r"has no column 'x'. Received columns: a, b"),
        ("x,q\n1,2,3\n", r"has no column 'y'. Received columns: x, q"),
    ],
)
def test_load_csv_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_csv(str(path))


def test_load_csv_missing_and_unreadable(tmp_path):
    with pytest.raises(ValueError, match="CSV file not found"):
        load_csv(str(tmp_path / "none.csv"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match="cannot read CSV file"):
        load_csv(str(binary))


def test_check_xy_lengths():
    with pytest.raises(ValueError, match="Received: 2 x and 3 y values"):
        check_xy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="Received: 0 points"):
        check_xy([], [])


# ----------------------------------------------------------------------------
# MNIST


def test_bundled_sample_is_real_stratified_mnist():
    (x_train, y_train), (x_test, y_test), source = load_mnist("sample")
    assert source == "sample"
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [400] * 10 and np.bincount(y_test).tolist() == [100] * 10
    # Real digits: dark background, ink in the middle, and no image shared by the two parts.
    assert x_train[:, 0, :].mean() < 1 and x_train[:, 10:18, 10:18].mean() > 60
    train_rows = {img.tobytes() for img in x_train}
    assert not any(img.tobytes() in train_rows for img in x_test)


def tiny_mnist(n=20, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n) % 10,
        "x_test": rng.integers(0, 256, (n // 2, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n // 2) % 10,
    }
    arrays.update(overrides)
    return {k: v for k, v in arrays.items() if v is not None}


def test_load_npz_in_keras_format(tmp_path):
    path = tmp_path / "mini.npz"
    np.savez(path, **tiny_mnist())
    (x_train, y_train), (x_test, _), source = load_mnist(str(path))
    assert x_train.shape == (20, 28, 28) and x_test.shape == (10, 28, 28) and source == str(path)
    assert y_train.tolist() == [i % 10 for i in range(20)]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, "lacks the key 'y_test'"),
        ({"x_train": np.zeros((20, 28, 28), np.float32)}, "x_train must be uint8 images. Received: dtype float32"),
        ({"x_train": np.zeros((20, 784), np.uint8)}, r"x_train must have shape \(N, 28, 28\). Received: \(20, 784\)"),
        ({"y_train": np.full(20, 10)}, "labels must be 0-9. Received: a label 10"),
        ({"y_train": np.full(20, -1)}, "labels must be 0-9. Received: a label -1"),
        ({"y_train": np.zeros(19, int)}, r"y_train must have shape \(20,\). Received: \(19,\)"),
        ({"y_train": np.zeros(20, float)}, "y_train must be integer labels. Received: dtype float64"),
        ({"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, int)}, "x_test is empty"),
    ],
)
def test_bad_npz_contents(tmp_path, overrides, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **tiny_mnist(**overrides))
    with pytest.raises(ValueError, match=message):
        load_mnist(str(path))


def test_missing_corrupt_and_unknown_sources(tmp_path):
    with pytest.raises(ValueError, match="MNIST file not found"):
        load_mnist(str(tmp_path / "none.npz"))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"is not a readable .npz file"):
        load_mnist(str(corrupt))
    with pytest.raises(ValueError, match="Received: source='mnist'"):
        load_mnist("mnist")


def test_csv_reads_the_same_floats_as_numpy(tmp_path):
    values = np.random.default_rng(0).normal(size=(2000, 3)) * 10.0 ** np.arange(-3, 3, 2)
    path = tmp_path / "points.csv"
    np.savetxt(path, values, delimiter=",", header="y,x,w", comments="", fmt="%.17g")
    x, y = load_csv(str(path))
    np.testing.assert_array_equal(x, values[:, 1])
    np.testing.assert_array_equal(y, values[:, 0])


def test_csv_with_an_empty_field_names_its_line(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("x,y\n1,2\n3,\n5,6\n")
    with pytest.raises(ValueError, match=r"gap.csv, line 3: column 'y' is not a number. Received: ''"):
        load_csv(str(path))


def test_arrays_round_trip_with_several_inputs_and_validation(tmp_path):
    from polykeras.data import load_arrays, save_arrays

    rng = np.random.default_rng(0)
    x, y = [rng.random((5, 2)), rng.random((5, 3))], rng.random((5, 1))
    for k in range(12):  # x_10 sorts after x_9, not after x_1
        x.append(np.full((5, 1), k))
    save_arrays(tmp_path / "d.npz", x, y, validation_data=(x[0][:2], y[:2]))
    x2, y2, (x_val, _y_val) = load_arrays(tmp_path / "d.npz")
    assert len(x2) == 14 and [int(a[0, 0]) for a in x2[2:]] == list(range(12))
    np.testing.assert_array_equal(x2[1], x[1])
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(x_val, x[0][:2])
    save_arrays(tmp_path / "one.npz", x[0], y)
    assert load_arrays(tmp_path / "one.npz")[2] is None
    with pytest.raises(ValueError, match="x as a dict"):
        save_arrays(tmp_path / "dict.npz", {"a": x[0]}, y)


def test_the_sample_comes_in_one_seeded_random_order_so_any_slice_holds_every_digit():
    """The shipped file is sorted by label; a search's `validation_split` (its last fifth) must still see all ten."""
    (x, y), (_x_test, y_test), _ = load_mnist("sample")
    (x2, y2), _, _ = load_mnist("sample")
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(x, x2)
    for part in (y[:200], y[-len(y) // 5 :], y_test[:200]):
        assert sorted(set(part.tolist())) == list(range(10))
    assert (np.diff(y) != 0).mean() > 0.5  # not in runs of one label


def _load_without_a_network(tmp_path):
    """`load_mnist("auto")`, then `load_mnist("keras")`, in one fresh process whose Keras cache is empty and whose
    every download is refused at once (a proxy on a closed port), so that nothing is downloaded here or anywhere
    the suite runs. Loading does not depend on the backend: the process runs on JAX, the quickest to import."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "KERAS_HOME": str(tmp_path / "keras-home"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    code = (
        "import logging, sys; logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from polykeras.data import load_mnist\n"
        "from polykeras.errors import RunError\n"
        "for source in ('auto', 'keras'):\n"
        "    try:\n"
        "        (x, y), (xt, yt), used = load_mnist(source)\n"
        "        print(used, len(x), len(xt), flush=True)\n"
        "    except RunError as e:\n"
        "        print('RunError:', e, flush=True)\n"
        "    print('--- end of', source, flush=True)\n"
        "    print('--- end of', source, file=sys.stderr, flush=True)\n"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.any_backend
def test_auto_falls_back_to_the_sample_with_one_warning_and_keras_fails_with_a_run_error(tmp_path):
    loaded = _load_without_a_network(tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    auto, full = (part.splitlines() for part in loaded.stdout.split("--- end of auto\n"))
    assert auto[-1] == "sample 4000 1000", loaded.stdout + loaded.stderr[-2000:]
    warned = [line for line in loaded.stderr.split("--- end of auto")[0].splitlines() if "full MNIST" in line]
    assert len(warned) == 1 and warned[0].startswith("full MNIST unavailable"), loaded.stderr[-2000:]
    assert warned[0].endswith("; using the bundled 5,000-digit sample"), loaded.stderr[-2000:]
    assert full[-2].startswith("RunError: cannot load MNIST through Keras: "), loaded.stdout
    assert "full MNIST" not in loaded.stderr.split("--- end of auto")[1]  # no fallback when keras is asked for
    assert not (tmp_path / "keras-home" / "datasets" / "mnist.npz").exists()  # nothing was downloaded
