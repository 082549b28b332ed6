"""The command line: results, JSON, bad input, and nothing written on error."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import keras
import numpy as np
import pytest
from helpers import BACKENDS, popen, run_python

from polykeras.data import load_mnist, synthetic_polynomial
from polykeras.seed import run_seed_program


@pytest.mark.any_backend
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
        "coefficients",
        "least_squares_coefficients",
        "relative_coefficient_gap",
        "mse",
        "least_squares_mse",
        "epochs",
        "train_seconds",
        "true_coefficients",
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
    rows = "\n".join(f"{a},{b}" for a, b in zip(x, 4 - x + 0.5 * x**2, strict=True))
    (tmp_path / "d.csv").write_text("time,temp\n" + rows + "\n")
    code, _out, err = cli(
        "fit-poly",
        "--csv",
        "d.csv",
        "--x-column",
        "time",
        "--y-column",
        "temp",
        "--degree",
        "2",
        "--save",
        "m.keras",
        "--no-log",
        "--json",
        "r.json",
    )
    assert code == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_allclose(result["coefficients"], [4, -1, 0.5], atol=1e-6)
    assert "true_coefficients" not in result
    from polykeras.saving import load_model

    saved = load_model(tmp_path / "m.keras")  # the fitted model, predicting the fitted curve
    np.testing.assert_allclose(saved.predict(x.reshape(-1, 1), verbose=0).ravel(), 4 - x + 0.5 * x**2, atol=1e-5)
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
    (["--degree", "-1"], "--degree must be an integer from 0 to 20. Received: -1\n"),
    (["--degree", "2.5"], "argument --degree: invalid int value: '2.5'"),
    (["--degree", "1000"], "--degree must be an integer from 0 to 20. Received: 1000\n"),
    (["--basis", "fourier"], "Received: basis='fourier'"),
    (["--optimizer", "nope"], "unknown Keras optimizer. Received: optimizer='nope'"),
    (["--learning-rate", "0"], "--learning-rate must be a number > 0. Received: 0.0\n"),
    (["--learning-rate", "-0.5"], "Received: -0.5\n"),
    (["--epochs", "0"], "--epochs must be an integer >= 1. Received: 0\n"),
    (["--epochs", "-3"], "Received: -3\n"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1. Received: 0\n"),
    (["--samples", "3"], "a degree-5 polynomial needs at least 6 distinct x values. Received: 3"),
    (["--x-range", "2,2"], "Received: x_range=2.0,2.0"),
    (["--x-range", "0,inf"], "--x-range must be finite numbers. Received: --x-range='0,inf'"),
    (["--x-range", "1,a"], "--x-range must be comma-separated numbers. Received: --x-range='1,a'"),
    (["--true-coefficients", "1,nan"], "Received: --true-coefficients='1,nan'"),
    (["--csv", "missing.csv"], "CSV file not found. Received: missing.csv"),
    (["--csv", "nan.csv"], "y must be finite. Received: y[1]=nan"),
    (["--csv", "constant.csv", "--degree", "1"], "x must not be constant"),
    (["--csv", "words.csv"], "line 2: column 'x' is not a number. Received: 'one'"),
    (["--csv", "nan.csv", "--y-column", "z"], "has no column 'z'. Received columns: x, y"),
    (["--save", "model.h5"], "--save must name a .keras file. Received: model.h5"),
    (["--save", "nodir/m.keras"], "--save folder does not exist. Received: nodir/m.keras"),
    (["--log-dir", "afile"], "--log-dir is blocked by a file. Received: afile"),
    (["--log-dir", "afile/runs"], "--log-dir is blocked by a file. Received: afile/runs"),
    (["--log-dir", "/proc/polykeras-logs"], "--log-dir cannot be written"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.any_backend
@pytest.mark.parametrize("args, message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, args, message):
    (tmp_path / "nan.csv").write_text("x,y\n1,2\n2,nan\n3,4\n")
    (tmp_path / "constant.csv").write_text("x,y\n1,2\n1,3\n1,4\n")
    (tmp_path / "words.csv").write_text("x,y\none,2\n")
    (tmp_path / "afile").write_text("")
    before = sorted(os.listdir(tmp_path))
    code, _out, err = cli("fit-poly", *args, "--json", "out.json")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.any_backend("torch")
def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    done = run_python(
        "import sys, polykeras_cli; sys.exit(polykeras_cli.main(['fit-poly', '--degree', '-2']))", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == "error: --degree must be an integer from 0 to 20. Received: -2\n"


@pytest.mark.any_backend("torch")
def test_a_bug_shows_its_traceback_and_exits_1(tmp_path):
    # A ValueError from below polykeras's own checks is a bug, not bad input.
    done = run_python(
        "import sys, polykeras_cli, polykeras.polynomial\n"
        "def broken(*args, **kwargs):\n    raise ValueError('a bug below polykeras')\n"
        "polykeras.polynomial.fit_polynomial = broken\n"
        "sys.exit(polykeras_cli.main(['fit-poly', '--no-log']))",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "error:" not in done.stderr
    assert done.stderr.rstrip().endswith("ValueError: a bug below polykeras")


@pytest.mark.any_backend("torch")  # a process per backend
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_option_is_printed_and_in_the_json(tmp_path, backend):
    done = run_python(
        f"import sys, polykeras_cli; sys.exit(polykeras_cli.main(['--backend', '{backend}', "
        "'fit-poly', '--no-log', '--json', 'f.json']))",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == f"backend: {backend}"
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["backend"] == backend and result["relative_coefficient_gap"] < 1e-3


@pytest.mark.any_backend
def test_an_unsupported_backend_is_bad_input_naming_the_extras(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "mxnet"}
    done = subprocess.run(
        [sys.executable, "-m", "polykeras_cli", "fit-poly", "--json", "f.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and not os.listdir(tmp_path)
    assert done.stderr == (
        "error: polykeras runs on the tensorflow, jax, torch backends, installed by its extras: "
        "pip install 'polykeras[tensorflow]', 'polykeras[jax]' or 'polykeras[torch]'. "
        "Received: KERAS_BACKEND=mxnet\n"
    )


@pytest.mark.any_backend  # the demo's printed numbers; its training on each backend is tested with the library
def test_demo(cli, tmp_path):
    """The numbers the demo prints: both recipes' gaps, zero initialisation's symmetry, and what gets a gradient."""
    code, out, err = cli("demo")
    assert code == 0, err
    runs = sorted(os.listdir(tmp_path / "logs" / "demo"))
    assert len(runs) == 2 and f"logs: {os.path.join('logs', 'demo', runs[0])}" in out
    summary = re.findall(r"^ *([12])\. .+? +(\d+) +(\S+) +\d+\.\d\d$", out, re.M)
    assert [(run, epochs) for run, epochs, _ in summary] == [("1", "1000"), ("2", "20")], out
    seed_gap, default_gap = (float(gap) for _, _, gap in summary)
    assert seed_gap > 0.1 and default_gap < 1e-8  # the seed's recipe is far from least squares; the default is on it
    zeros = re.search(r"^ *zeros +1 of 64 / 1 of 64 +0 / 0 +(\S+) %$", out, re.M)
    glorot = re.search(r"^ *glorot_uniform +64 of 64 / 64 of 64 +(\S+) / (\S+) +(\S+) %$", out, re.M)
    assert zeros and glorot, out
    assert float(zeros[1]) <= 15 and float(glorot[3]) >= 80 and min(float(glorot[1]), float(glorot[2])) > 0
    gradients = dict(re.findall(r"^ *polynomial/(\w+) +\S+ +(?:yes|no) +(\S+)$", out, re.M))
    assert gradients.keys() == {"coefficients", "domain_min", "domain_max", "basis_transform"}
    assert float(gradients.pop("coefficients")) > 1 and set(gradients.values()) == {"none"}


# ----------------------------------------------------------------------------
# MNIST commands


QUICK = ["--data", "sample", "--hidden", "64", "--no-augment", "--seed", "1"]


FAILED_RUNS = [
    (
        ["--learning-rate", "1e6"],
        "model (collapsed)",
        "error: training collapsed: every hidden unit is dead (zero gradient); try a smaller --learning-rate\n",
    ),
    (
        ["--learning-rate", "1e20"],
        "model (last good epoch)",
        "error: loss became NaN at epoch 1; try a smaller --learning-rate\n",
    ),
]


@pytest.mark.parametrize("args, saved, message", FAILED_RUNS, ids=["collapsed", "nan"])
def test_a_failed_run_exits_1_and_saves_only_when_asked(cli, tmp_path, args, saved, message):
    common = ["train-mnist", "--data", "sample", "--hidden", "16", "--no-augment", "--epochs", "2", "--no-log", *args]
    code, out, err = cli(*common, "--json", "f.json")
    assert (code, err) == (1, message)
    assert not (tmp_path / "f.json").exists() and not list(tmp_path.glob("*.keras"))
    code, out, err = cli(*common, "--save", "f.keras")
    assert (code, err) == (1, message)
    assert f"{saved}: f.keras" in out and (tmp_path / "f.keras").is_file()


@pytest.fixture(scope="module")
def mnist_model(tmp_path_factory):
    """A small MLP trained on the sample through the CLI, saved to .keras."""
    import polykeras_cli

    folder = tmp_path_factory.mktemp("mnist")
    # Its own runs folder: in the working directory, the TensorFlow and JAX passes would train the same run at
    # once, and the second would stop with "the same run is in progress".
    assert (
        polykeras_cli.main(
            [
                "train-mnist",
                *QUICK,
                "--epochs",
                "3",
                "--no-log",
                "--log-dir",
                str(folder / "logs"),
                "--save",
                str(folder / "mlp.keras"),
            ]
        )
        == 0
    )
    return folder / "mlp.keras"


def test_no_deskew_trains_a_model_without_the_deskew_layer(cli, tmp_path, mnist_model):
    import keras

    code, _out, err = cli("train-mnist", *QUICK, "--epochs", "1", "--no-log", "--no-deskew", "--save", "n.keras")
    assert code == 0, err

    def names(path):
        return [layer.name for layer in keras.saving.load_model(path, safe_mode=True).layers]

    assert "deskew" in names(mnist_model)
    assert "deskew" not in names(tmp_path / "n.keras")


def test_train_mnist_json(cli, tmp_path):
    code, out, err = cli("train-mnist", *QUICK, "--epochs", "2", "--json", "t.json")
    assert code == 0, err
    result = json.loads((tmp_path / "t.json").read_text())
    assert set(result) >= {"test_accuracy", "train_seconds", "samples_per_second", "epochs", "data_source"}
    assert result["data_source"] == "sample" and result["epochs"] == 2 and result["test_accuracy"] > 0.75
    assert "Epoch 2/2" in out and "test accuracy" in out
    assert os.listdir(tmp_path / result["log_dir"])
    assert os.listdir(tmp_path / "logs" / "train-mnist") == [os.path.basename(result["log_dir"])]


def test_train_mnist_zero_init_says_why(cli, tmp_path):
    code, out, err = cli("train-mnist", *QUICK, "--epochs", "2", "--init", "zeros", "--no-log", "--json", "z.json")
    assert code == 0, err
    result = json.loads((tmp_path / "z.json").read_text())
    assert result["hidden_units"] == [
        {"layer": "hidden_1", "units": 64, "distinct_units": 1, "kernel_gradient_norm": 0.0}
    ]
    assert result["test_accuracy"] <= 0.15 and "every hidden unit of a layer is identical" in out


def test_evaluate_inspect_predict(cli, tmp_path, mnist_model):
    code, out, err = cli("evaluate", mnist_model, "--data", "sample", "--json", "e.json")
    assert code == 0, err
    accuracy = json.loads((tmp_path / "e.json").read_text())["accuracy"]
    model = keras.saving.load_model(mnist_model, safe_mode=True)
    _, (x_test, y_test), _ = load_mnist("sample")
    assert accuracy == float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test)) > 0.85

    code, out, _ = cli("inspect", mnist_model)
    assert code == 0 and "hidden_1/kernel" in out and "784x64" in out
    assert "trainable: 50,890  non-trainable: 0  total: 50,890" in out

    # Photos of handwriting: dark ink on light paper, any size.
    from PIL import Image

    predicted = model.predict(x_test[:20], verbose=0).argmax(1)
    paths = []
    for i in range(20):
        big = Image.fromarray(255 - x_test[i]).resize((112, 112), Image.Resampling.BILINEAR)
        paths.append(f"digit{i}.png")
        big.save(tmp_path / paths[-1])
    code, out, err = cli("predict", mnist_model, *paths, "--json", "p.json")
    assert code == 0, err
    digits = [row["digit"] for row in json.loads((tmp_path / "p.json").read_text())["predictions"]]
    assert np.mean(np.array(digits) == predicted) >= 0.9


def test_inspect_shows_the_polynomial_domain_as_non_trainable(cli, tmp_path):
    assert cli("fit-poly", "--degree", "2", "--epochs", "2", "--no-log", "--save", "p.keras")[0] == 0
    code, out, _ = cli("inspect", "p.keras")
    assert code == 0
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if "/" in line}
    assert rows == {
        "polynomial/coefficients": "yes",
        "polynomial/domain_min": "no",
        "polynomial/domain_max": "no",
        "polynomial/basis_transform": "no",
    }


@pytest.mark.any_backend
def test_models_are_loaded_only_in_safe_mode(cli, tmp_path):
    inputs = keras.Input((28, 28))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    unsafe.save(tmp_path / "lambda.keras")
    for command in (["inspect"], ["evaluate", "--data", "sample"]):
        code, _, err = cli(*command[:1], "lambda.keras", *command[1:])
        assert (
            code == 2 and err.startswith("error: cannot load lambda.keras with safe_mode=True") and err.count("\n") == 1
        )


MNIST_BAD_INPUT = [
    (["train-mnist", "--data", "missing.npz"], "MNIST file not found. Received: missing.npz"),
    (["train-mnist", "--data", "corrupt.npz"], "corrupt.npz is not a readable .npz file"),
    (["train-mnist", "--data", "keys.npz"], "keys.npz lacks the key 'x_train'"),
    (["train-mnist", "--data", "labels.npz"], "labels must be 0-9. Received: a label 12"),
    (["train-mnist", "--data", "flat.npz"], "x_train must have shape (N, 28, 28). Received: (4, 784)"),
    (["train-mnist", "--data", "float.npz"], "x_train must be uint8 images. Received: dtype float64"),
    (["train-mnist", "--data", "empty.npz"], "x_train is empty"),
    (["train-mnist", "--data", "nonsense"], "--data must be auto, keras, sample or a path"),
    (["train-mnist", "--hidden", "512,a"], "Received: '512,a'"),
    (["train-mnist", "--init", "nonsense"], "unknown Keras initializer. Received: init='nonsense'"),
    (["train-mnist", "--epochs", "0"], "--epochs must be an integer >= 1. Received: 0\n"),
    (["train-mnist", "--learning-rate", "-1"], "--learning-rate must be a number > 0. Received: -1.0\n"),
    (["train-mnist", "--dropout", "1.5"], "--dropout must be a number in [0, 1). Received: 1.5\n"),
    (["train-mnist", "--elastic", "9"], "--elastic must be a number in [0, 8]. Received: 9.0\n"),
    (["train-mnist", "--save", "exists.keras"], "--save target exists"),
    (["evaluate", "notes.txt"], "not a .keras model file. Received: notes.txt"),
    (["evaluate", "fake.keras"], "not a .keras model file. Received: fake.keras"),
    (["inspect", "missing.keras"], "model file not found. Received: missing.keras"),
    (["predict", "exists.keras", "notes.txt"], "not a readable image. Received: notes.txt"),
    (["predict", "exists.keras", "nowhere.png"], "image not found. Received: nowhere.png"),
    (["train-mnist", "--data", "single.npz"], "single.npz is not a readable .npz file"),
    (["train-mnist", "--learning-rate", "inf"], "--learning-rate must be a number > 0. Received: inf\n"),
    (["train-mnist", "--seed", "-1"], "argument --seed: must be an integer >= 0. Received: -1"),
]


@pytest.mark.any_backend
@pytest.mark.parametrize("args, message", MNIST_BAD_INPUT, ids=[" ".join(a) for a, _ in MNIST_BAD_INPUT])
def test_mnist_bad_input(cli, tmp_path, args, message):
    (tmp_path / "corrupt.npz").write_bytes(b"garbage")
    np.savez(tmp_path / "keys.npz", images=np.zeros((2, 28, 28), np.uint8))
    good = dict(
        x_train=np.zeros((4, 28, 28), np.uint8),
        y_train=np.zeros(4, int),
        x_test=np.zeros((2, 28, 28), np.uint8),
        y_test=np.zeros(2, int),
    )
    np.savez(tmp_path / "labels.npz", **{**good, "y_train": np.array([0, 1, 2, 12])})
    np.savez(tmp_path / "flat.npz", **{**good, "x_train": np.zeros((4, 784), np.uint8)})
    np.savez(tmp_path / "float.npz", **{**good, "x_train": np.zeros((4, 28, 28))})
    np.savez(
        tmp_path / "empty.npz", **{**good, "x_train": np.zeros((0, 28, 28), np.uint8), "y_train": np.zeros(0, int)}
    )
    (tmp_path / "notes.txt").write_text("not an image")
    with open(tmp_path / "single.npz", "wb") as f:  # one array, though named .npz
        np.save(f, np.zeros((2, 28, 28), np.uint8))
    (tmp_path / "fake.keras").write_text("not a zip")
    (tmp_path / "exists.keras").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    code, _out, err = cli(*args, "--json", "out.json") if args[0] != "inspect" else cli(*args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def _backed_up_epochs(tmp_path):
    from polykeras.backup import backed_up_epochs

    found = list((tmp_path / "logs" / "train-mnist").glob("backup-*"))
    return backed_up_epochs(str(found[0])) if found else 0


def _wait_for_backup(process, tmp_path, epochs):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and _backed_up_epochs(tmp_path) < epochs:
        time.sleep(0.05)
    assert process.poll() is None and _backed_up_epochs(tmp_path) >= epochs, "no epoch was backed up in time"


@pytest.mark.any_backend("torch")  # the run lock and resuming through the CLI; Backup on each backend: test_backup.py
def test_same_run_twice_is_refused_and_a_sigkilled_run_resumes(tmp_path):
    epochs = 12
    args = ["train-mnist", *QUICK, "--epochs", str(epochs), "--json", "r.json"]
    first = popen(*args, cwd=tmp_path)
    try:
        _wait_for_backup(first, tmp_path, 1)
        # The same arguments in a second terminal, while the first is paused (so it cannot finish meanwhile):
        # refused before it writes anything.
        first.send_signal(signal.SIGSTOP)
        runs = tmp_path / "logs" / "train-mnist"
        listing = (sorted(os.listdir(tmp_path)), sorted(os.listdir(runs)))
        twin = popen(*args, cwd=tmp_path)
        twin_out, _ = twin.communicate(timeout=120)
        assert twin.returncode == 1 and twin_out.endswith(f"error: the same run is in progress (pid {first.pid})\n"), (
            twin_out
        )
        assert "Epoch 1/" not in twin_out
        assert (sorted(os.listdir(tmp_path)), sorted(os.listdir(runs))) == listing  # no new run folder, no JSON
        first.send_signal(signal.SIGCONT)

        _wait_for_backup(first, tmp_path, 2)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL
    done_before = _backed_up_epochs(tmp_path)
    assert 2 <= done_before < epochs

    # The kernel dropped the killed run's lock: the same command resumes it.
    second = popen(*args, cwd=tmp_path)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    assert f"resuming from the backup: epochs 1-{done_before} already done" in out
    assert f"Epoch {done_before}/{epochs}" not in out and f"Epoch {done_before + 1}/{epochs}" in out
    assert f"Epoch {epochs}/{epochs}" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["epochs"] == epochs and result["test_accuracy"] > 0.85
    # One run folder for both processes, and the backup is gone once training finished.
    assert sorted(p.name for p in (tmp_path / "logs" / "train-mnist").iterdir()) == [
        os.path.basename(result["log_dir"])
    ]


@pytest.mark.any_backend
def test_cli_defaults_match_the_library():
    import polykeras_cli
    from polykeras import mnist

    assert polykeras_cli.mnist.MNIST_DEFAULTS == {
        "epochs": mnist.MNIST_EPOCHS,
        "batch_size": mnist.MNIST_BATCH_SIZE,
        "dropout": mnist.MNIST_DROPOUT,
        "elastic": mnist.MNIST_ELASTIC,
    }


# ----------------------------------------------------------------------------
# tensorboard: the real server, queried over HTTP on 127.0.0.1


def _get(base, path, raw=False):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        body = response.read()
    return body if raw else json.loads(body)


def _start_tensorboard(logdir):
    server = popen(
        "tensorboard", logdir, "--port", "0", "--reload-interval", "1", cwd=logdir
    )  # as tensorboard's LOGDIR
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and server.poll() is None:
        line = server.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if match:
            return server, match.group(1)
    server.kill()
    server.wait()
    raise AssertionError(f"TensorBoard did not start: {line!r}")


def _stop_tensorboard(server):
    """Stops a server started by _start_tensorboard by its PID; returns its exit code."""
    server.send_signal(signal.SIGINT)
    try:
        return server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        return server.wait()


@pytest.mark.any_backend("torch")
def test_tensorboard_serves_the_runs(cli, tmp_path):
    assert cli("fit-poly", "--json", "poly.json")[0] == 0
    assert cli("train-mnist", *QUICK, "--epochs", "2", "--hidden", "32", "--json", "mnist.json")[0] == 0
    poly = json.loads((tmp_path / "poly.json").read_text())
    poly_run = os.path.relpath(poly["log_dir"], "logs") + "/train"
    mnist_run = os.path.relpath(json.loads((tmp_path / "mnist.json").read_text())["log_dir"], "logs") + "/train"

    server, base = _start_tensorboard(str(tmp_path / "logs"))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tags = _get(base, "data/plugin/scalars/tags")
            if poly_run in tags and mnist_run in tags and "coefficients/c5" in tags[poly_run]:
                break
            time.sleep(0.5)
        assert {f"coefficients/c{k}" for k in range(6)} <= set(tags[poly_run])
        for k in range(6):
            query = urllib.parse.urlencode({"run": poly_run, "tag": f"coefficients/c{k}"})
            points = _get(base, f"data/plugin/scalars/scalars?{query}")
            assert [step for _, step, _ in points] == list(range(21))
            assert points[0][2] == 0.0
            assert points[-1][2] == pytest.approx(poly["coefficients"][k], rel=1e-6, abs=1e-7)

        histograms = _get(base, "data/plugin/histograms/tags")
        assert "polynomial/coefficients/histogram" in histograms[poly_run]
        assert "hidden_1/kernel/histogram" in histograms[mnist_run]
        images = _get(base, "data/plugin/images/tags")
        assert "fit/curve" in images[poly_run] and "weights/hidden_1_kernels" in images[mnist_run]
        query = urllib.parse.urlencode({"run": poly_run, "tag": "fit/curve", "sample": 0})
        first = _get(base, f"data/plugin/images/images?{query}")[0]
        assert _get(base, f"data/plugin/images/individualImage?{first['query']}", raw=True)[:8] == b"\x89PNG\r\n\x1a\n"
        layout = _get(base, "data/plugin/custom_scalars/layout")
        polynomial = next(c for c in layout["category"] if c["title"] == "polynomial")
        assert polynomial["chart"][0]["multiline"]["tag"] == [r"coefficients/c\d+$"]
    finally:
        assert _stop_tensorboard(server) == 0  # Ctrl-C ends it cleanly


@pytest.mark.any_backend
def test_tensorboard_bad_input(cli, tmp_path):
    code, _, err = cli("tensorboard", "--logdir", "missing")
    assert code == 2 and err == "error: --logdir is not a folder. Received: missing\n"
    code, _, err = cli("tensorboard", "missing")  # the folder given as tensorboard's own LOGDIR
    assert code == 2 and err == "error: --logdir is not a folder. Received: missing\n"
    code, _, err = cli("tensorboard", "a", "--logdir", "b")
    assert code == 2 and err == "error: give the folder once, as LOGDIR or --logdir. Received: a and --logdir b\n"
    code, _, err = cli("tensorboard", "--logdir", ".", "--port", "70000")
    assert code == 2 and err == "error: --port must be an integer from 0 to 65535. Received: 70000\n"


def test_fit_poly_plot(cli, tmp_path):
    code, out, err = cli("fit-poly", "--degree", "3", "--no-log", "--plot", "walk.png")
    assert code == 0, err
    from PIL import Image

    with Image.open(tmp_path / "walk.png") as image:
        assert image.format == "PNG" and image.size[0] > 800
    assert "plot: walk.png" in out
    code, _, err = cli("fit-poly", "--no-log", "--plot", "walk.jpg")
    assert code == 2 and err == "error: --plot must name a .png file. Received: walk.jpg\n"


def test_evaluate_and_predict_need_a_digit_classifier(cli, tmp_path):
    assert cli("fit-poly", "--degree", "2", "--epochs", "2", "--no-log", "--save", "p.keras")[0] == 0
    code, _, err = cli("evaluate", "p.keras", "--data", "sample")
    assert code == 2 and err.startswith("error: p.keras is not a digit classifier") and err.count("\n") == 1


@pytest.mark.any_backend("torch")
def test_ctrl_c_stops_tensorboard_even_where_sigint_was_ignored(tmp_path):
    """A background job of a shell starts with SIGINT ignored; the server's documented stop still works."""
    (tmp_path / "logs").mkdir()
    command = f"trap '' INT; exec {shlex.quote(sys.executable)} -m polykeras_cli tensorboard logs --port 0"
    server = subprocess.Popen(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        while server.poll() is None and "http://127.0.0.1:" not in line:
            line = server.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        server.send_signal(signal.SIGINT)
        printed, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, printed
