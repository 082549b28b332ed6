"""Data loading and validation."""

import numpy as np
import pytest

from polykeras.data import check_xy, load_csv, parse_floats, synthetic_polynomial


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


def test_parse_floats():
    assert parse_floats("-1,2.5", "--x-range") == [-1.0, 2.5]
    with pytest.raises(ValueError, match=r"Received: --x-range='1,a'"):
        parse_floats("1,a", "--x-range")


def test_check_xy_lengths():
    with pytest.raises(ValueError, match="Received: 2 x and 3 y values"):
        check_xy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="Received: 0 points"):
        check_xy([], [])
