"""The command line: results, JSON, bad input, and nothing written on error."""

import json
import os

import numpy as np
import pytest

from conftest import run_python
from polykeras.data import synthetic_polynomial
from polykeras.seed import run_seed_program


def test_help_does_not_import_tensorflow():
    done = run_python(
        "import sys, polykeras_cli\n"
        "try:\n    polykeras_cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr
    assert "fit-poly" in done.stdout


def test_fit_poly_json_and_table(cli, tmp_path):
    code, out, err = cli("fit-poly", "--degree", "2", "--x-range", "-3,7", "--json", "fit.json")
    assert code == 0, err
    result = json.loads((tmp_path / "fit.json").read_text())
    assert set(result) >= {
        "coefficients", "least_squares_coefficients", "relative_coefficient_gap", "mse",
        "least_squares_mse", "epochs", "train_seconds", "true_coefficients",
    }
    assert result["relative_coefficient_gap"] <= 1e-3
    assert result["epochs"] == 20 and result["true_coefficients"] == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(result["coefficients"], result["least_squares_coefficients"], rtol=1e-6)
    assert "least squares" in out and "true" in out and "x^2" in out
    # The run's TensorBoard logs went where the output says.
    log_dir = result["log_dir"]
    assert log_dir.startswith(os.path.join("logs", "fit-poly")) and f"logs: {log_dir}" in out
    assert os.listdir(tmp_path / log_dir)


def test_fit_poly_seed_parity_flags(cli, tmp_path):
    args = ["--basis", "monomial", "--optimizer", "sgd", "--learning-rate", "0.01", "--epochs", "1000"]
    code, _, err = cli("fit-poly", *args, "--no-log", "--json", "parity.json")
    assert code == 0, err
    learned = json.loads((tmp_path / "parity.json").read_text())["coefficients"]
    seed_w, _ = run_seed_program(*synthetic_polynomial([1, 2, 3]))
    np.testing.assert_allclose(learned, seed_w, atol=1e-4, rtol=0)


def test_fit_poly_from_csv_and_save(cli, tmp_path):
    x = np.linspace(0, 10, 30)
    rows = "\n".join(f"{a},{b}" for a, b in zip(x, 4 - x + 0.5 * x**2))
    (tmp_path / "d.csv").write_text("time,temp\n" + rows + "\n")
    code, out, err = cli("fit-poly", "--csv", "d.csv", "--x-column", "time", "--y-column", "temp",
                         "--degree", "2", "--save", "m.keras", "--no-log", "--json", "r.json")
    assert code == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_allclose(result["coefficients"], [4, -1, 0.5], atol=1e-6)
    assert "true_coefficients" not in result and (tmp_path / "m.keras").stat().st_size > 0
    assert not (tmp_path / "logs").exists()


def test_existing_save_target_is_kept(cli, tmp_path):
    (tmp_path / "m.keras").write_bytes(b"precious")
    code, _, err = cli("fit-poly", "--save", "m.keras", "--no-log")
    assert code == 2 and err == "error: --save target exists; pass --overwrite to replace it. Received: m.keras\n"
    assert (tmp_path / "m.keras").read_bytes() == b"precious"
    code, _, err = cli("fit-poly", "--save", "m.keras", "--overwrite", "--no-log", "--epochs", "2")
    assert code == 0, err
    assert (tmp_path / "m.keras").read_bytes() != b"precious"


BAD_INPUT = [
    (["--degree", "-1"], "degree must be an integer from 0 to 20. Received: degree=-1"),
    (["--degree", "2.5"], "argument --degree: invalid int value: '2.5'"),
    (["--degree", "1000"], "Received: degree=1000"),
    (["--basis", "fourier"], "Received: basis='fourier'"),
    (["--optimizer", "nope"], "unknown Keras optimizer. Received: optimizer='nope'"),
    (["--learning-rate", "0"], "Received: learning_rate=0.0"),
    (["--learning-rate", "-0.5"], "Received: learning_rate=-0.5"),
    (["--epochs", "0"], "Received: epochs=0"),
    (["--epochs", "-3"], "Received: epochs=-3"),
    (["--batch-size", "0"], "Received: batch_size=0"),
    (["--samples", "3"], "a degree-5 polynomial needs at least 6 distinct x values. Received: 3"),
    (["--x-range", "2,2"], "Received: x_range=2.0,2.0"),
    (["--x-range", "0,inf"], "--x-range must be finite numbers. Received: --x-range='0,inf'"),
    (["--true-coefficients", "1,nan"], "Received: --true-coefficients='1,nan'"),
    (["--csv", "missing.csv"], "CSV file not found. Received: missing.csv"),
    (["--csv", "nan.csv"], "y must be finite. Received: y[1]=nan"),
    (["--csv", "constant.csv", "--degree", "1"], "x must not be constant"),
    (["--csv", "words.csv"], "line 2: column 'x' is not a number. Received: 'one'"),
    (["--csv", "nan.csv", "--y-column", "z"], "has no column 'z'. Received columns: x, y"),
    (["--save", "model.h5"], "--save must name a .keras file. Received: model.h5"),
    (["--save", "nodir/m.keras"], "--save folder does not exist. Received: nodir/m.keras"),
    (["--log-dir", "afile"], "--log-dir is a file, not a folder. Received: afile"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, args, message):
    (tmp_path / "nan.csv").write_text("x,y\n1,2\n2,nan\n3,4\n")
    (tmp_path / "constant.csv").write_text("x,y\n1,2\n1,3\n1,4\n")
    (tmp_path / "words.csv").write_text("x,y\none,2\n")
    (tmp_path / "afile").write_text("")
    before = sorted(os.listdir(tmp_path))
    code, out, err = cli("fit-poly", *args, "--json", "out.json")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(os.listdir(tmp_path)) == before


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    done = run_python("import sys, polykeras_cli; sys.exit(polykeras_cli.main(['fit-poly', '--degree', '-2']))",
                      cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: degree must be an integer from 0 to 20. Received: degree=-2\n"


def test_demo(cli, tmp_path):
    code, out, err = cli("demo")
    assert code == 0, err
    assert "Summary" in out and out.count("least squares") >= 2
    runs = sorted(os.listdir(tmp_path / "logs" / "demo"))
    assert len(runs) == 2 and f"logs: {os.path.join('logs', 'demo', runs[0])}" in out
