"""polykeras.backup: a resumed fit continues exactly, the budget spaces backups, a half-written one is never used."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import BACKEND, REPO, run_python

from polykeras import backend
from polykeras.atomic import temporary_path
from polykeras.backup import BACKUP_FILE, Backup, backed_up_epochs
from polykeras.errors import RunError

# Each test waits for Backup's writer thread (Backup.wait): a writer that never ends must fail the test, not hang it.
pytestmark = pytest.mark.timeout(60)


def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _data():
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True) ** 2


def _random_model():
    """A model that draws from every random state training has: dropout, noise, and fit's shuffle of the arrays."""
    backend.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dropout(0.3),
            keras.layers.GaussianNoise(0.2),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


class _Crash(Exception):
    pass


class _CrashAfterEpoch3(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise _Crash


def test_a_fit_that_crashed_resumes_to_the_unbroken_runs_weights_bit_for_bit_at_fits_defaults(tmp_path):
    """Dropout, Gaussian noise and fit's default shuffle: each draws from a random state the backup keeps."""
    x, y = _data()
    unbroken = _random_model()
    unbroken.fit(x, y, epochs=6, batch_size=16, verbose=0)

    first = Backup(str(tmp_path), budget=0)
    with pytest.raises(_Crash):
        _random_model().fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[first, _CrashAfterEpoch3()])
    first.wait()
    assert first.saved_epochs == [1, 2, 3] and backed_up_epochs(str(tmp_path)) == 3
    np.random.seed(7)  # what the process draws between the crash and the resume does not matter
    keras.random.normal((3,))

    resumed = _random_model()  # fresh weights and a fresh optimizer: all of it comes from the backup
    backup = Backup(str(tmp_path), budget=0)
    history = resumed.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[backup])
    assert backup.resumed_epoch == 3 and len(history.history["loss"]) == 3
    assert int(resumed.optimizer.iterations) == int(unbroken.optimizer.iterations) == 6 * 4
    for a, b in zip(resumed.get_weights(), unbroken.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not tmp_path.exists()  # a finished fit removes its backup folder


class _FakeClock:
    """Time in units that only the test moves."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _OneUnitWrites(Backup):
    """Writes the backup for real, in one unit of its clock's time."""

    def _save(self, state):
        super()._save(state)
        self.clock.now += 1


class _Epochs(keras.callbacks.Callback):
    """Makes each epoch last `units` of the fake clock (once the backup in flight is written)."""

    def __init__(self, backup, units):
        super().__init__()
        self.backup, self.units = backup, units

    def on_epoch_end(self, epoch, logs=None):
        self.backup.wait()
        self.backup.clock.now += self.units


def test_the_budget_spaces_the_backups(tmp_path):
    x, y = _data()
    backup = _OneUnitWrites(str(tmp_path), delete_checkpoint=False, budget=0.02, clock=_FakeClock())
    _model().fit(x, y, epochs=20, batch_size=64, verbose=0, callbacks=[_Epochs(backup, units=10), backup])
    # Epochs of 10 units, copies of 0 and writes of 1. A backup costs its copy and the write before it, so the
    # first two are free and taken at once; after that each costs 1 unit, and 1 / 0.02 = 50 units, 5 epochs, must
    # pass before the next (a budget off by 2x would space them by 3 or 10 epochs).
    assert backup.saved_epochs == [1, 2, 7, 12, 17]
    assert backed_up_epochs(str(tmp_path)) == 17


def test_a_failed_write_stops_training_and_keeps_the_last_backup(tmp_path):
    x, y = _data()
    backup = Backup(str(tmp_path), delete_checkpoint=False, budget=0)

    class BlockTheNextWrite(keras.callbacks.Callback):
        """Once epoch 1 is backed up, puts a folder where the next write's file goes: open() fails, even as root."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                backup.wait()
                with np.load(tmp_path / BACKUP_FILE) as state:
                    self.epoch_1 = {name: state[name] for name in state.files}
                os.mkdir(temporary_path(tmp_path / BACKUP_FILE))

    block = BlockTheNextWrite()
    message = f"^the backup could not be written to {re.escape(str(tmp_path))}: .*Is a directory"
    with pytest.raises(RunError, match=message) as caught:
        _model().fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[backup, block])
    # Epoch 2's write failed in the background; epoch 3's end, waiting for it, stopped training.
    assert backup.saved_epochs == [1, 2], caught.value
    with np.load(tmp_path / BACKUP_FILE) as state:  # epoch 1's backup, untouched
        assert sorted(state.files) == sorted(block.epoch_1) and int(state["epoch"]) == 1
        for name in state.files:
            np.testing.assert_array_equal(state[name], block.epoch_1[name])


def test_a_backup_of_another_model_is_refused(tmp_path):
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[Backup(str(tmp_path), delete_checkpoint=False)])
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(RunError, match=r"the backup in .* is of another model"):
        other.fit(x, y, epochs=1, verbose=0, callbacks=[Backup(str(tmp_path))])


@pytest.mark.parametrize("budget", [-0.1, 1, "0.1", True])
def test_bad_budget(budget, tmp_path):
    with pytest.raises(ValueError, match=f"budget must be a number in \\[0, 1\\). Received: budget={budget!r}"):
        Backup(str(tmp_path), budget=budget)


def test_bad_clock(tmp_path):
    with pytest.raises(ValueError, match=r"^clock must be a function that returns the time. Received: clock=0.5$"):
        Backup(str(tmp_path), clock=0.5)


DATA_PARALLEL = textwrap.dedent("""
    import os, tempfile
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"  # before jax is imported
    import jax, keras, numpy as np
    from polykeras.backup import Backup

    devices = jax.devices()
    assert [d.platform for d in devices] == ["cpu", "cpu"], devices
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))

    def model(seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                                  keras.layers.Activation("tanh"), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        return model

    def state(model):
        return [np.asarray(v.value) for v in model.variables + model.optimizer.variables]

    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    fit = dict(x=x, y=x.sum(axis=1, keepdims=True) ** 2, batch_size=16, shuffle=False, verbose=0)
    unbroken = model(1)
    unbroken.fit(epochs=6, **fit)

    class Crash(Exception):
        pass

    class CrashAfterEpoch3(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise Crash

    folder = tempfile.mkdtemp()
    first = Backup(folder, budget=0)
    try:
        model(1).fit(epochs=6, callbacks=[first, CrashAfterEpoch3()], **fit)
    except Crash:
        first.wait()

    class Layout(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):  # after Backup's: the restored variables
            variables = self.model.variables + self.model.optimizer.variables
            self.devices = {len(v.value.sharding.device_set) for v in variables}

    resumed, layout = model(2), Layout()  # other starting weights: what matches comes from the backup
    backup = Backup(folder, budget=0)
    history = resumed.fit(epochs=6, callbacks=[backup, layout], **fit)
    print("resumed after", backup.resumed_epoch, "trained", len(history.history["loss"]), "epochs",
          "on devices", layout.devices)
    for a, b, v in zip(state(resumed), state(unbroken), resumed.variables + resumed.optimizer.variables, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=v.path)
    print("same weights and optimizer variables")
""")


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution runs on JAX only; this runs in the JAX pass")
@pytest.mark.timeout(180)
def test_a_resumed_data_parallel_fit_ends_where_an_unbroken_one_does():
    done = run_python(DATA_PARALLEL, timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "resumed after 3 trained 3 epochs on devices {2}\nsame weights and optimizer variables\n" in done.stdout


# A user's model whose backup (weights, BatchNormalization's statistics and Adam's two moments, 3 x 64 MB) takes a
# good part of a second to write.
BIG_MODEL = textwrap.dedent("""
    import keras, numpy as np
    from polykeras import backend

    def big_model():
        backend.set_random_seed(0)
        model = keras.Sequential([keras.Input((4096,)), keras.layers.Dense(4096, use_bias=False),
                                  keras.layers.BatchNormalization(), keras.layers.Dropout(0.2),
                                  keras.layers.GaussianNoise(0.1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        return model

    x = np.random.default_rng(0).normal(size=(16, 4096)).astype("float32")
    y = np.tanh(x)
""")
BIG_FIT = BIG_MODEL + textwrap.dedent("""
    import sys
    from polykeras.backup import Backup
    big_model().fit(x, y, epochs=1000, batch_size=8, verbose=0,
                    callbacks=[Backup(sys.argv[1], budget=0)])
""")


def _everything(model):
    return [keras.ops.convert_to_numpy(v) for v in [*model.variables, *model.optimizer.variables]]


# Once: what a SIGKILL mid-write tests is the file's atomic replacement, the same on every backend. Copying the
# variables out and restoring them bit for bit, the backend's part, is tested in every pass (above).
@pytest.mark.any_backend("torch")
@pytest.mark.timeout(180)
def test_a_run_killed_mid_write_resumes_from_the_last_whole_backup_exactly_as_an_unbroken_run(tmp_path):
    folder = tmp_path / "backup"
    # On this process's backend: it resumes here what the killed process wrote.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": keras.backend.backend()}
    process = subprocess.Popen(
        [sys.executable, "-c", BIG_FIT, str(folder)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    final = folder / BACKUP_FILE
    partial = Path(temporary_path(final, process.pid))
    try:
        deadline = time.monotonic() + 120
        # Wait for one whole backup, then for the next write to start, and kill the process in the middle of it.
        while time.monotonic() < deadline and process.poll() is None:
            if final.exists() and partial.exists() and partial.stat().st_size < final.stat().st_size // 2:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        process.kill()
        output = process.communicate()[0].decode()
    assert process.returncode == -signal.SIGKILL, output
    # The fault fired: a half-written backup is on disk beside the last whole one.
    assert partial.exists() and partial.stat().st_size < final.stat().st_size
    whole = backed_up_epochs(str(folder))
    assert whole >= 1

    # The same model resumes here (a fresh process would only add a second start of the backend) and ends,
    # weights, moving statistics, Adam's moments and step count, bit for bit where an unbroken run ends.
    scope = {}
    exec(BIG_MODEL, scope)
    resumed, backup = scope["big_model"](), Backup(str(folder), delete_checkpoint=False, budget=0)
    resumed.fit(scope["x"], scope["y"], epochs=whole + 2, batch_size=8, verbose=0, callbacks=[backup])
    assert backup.resumed_epoch == whole and backup.saved_epochs == [whole + 1, whole + 2]
    assert backed_up_epochs(str(folder)) == whole + 2 and not partial.exists()
    unbroken = scope["big_model"]()
    unbroken.fit(scope["x"], scope["y"], epochs=whole + 2, batch_size=8, verbose=0)
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 2 * (whole + 2)
    for a, b, variable in zip(
        _everything(resumed), _everything(unbroken), resumed.variables + resumed.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=variable.path)


# Keras's own scenarios (keras/src/callbacks/backup_and_restore_test.py), with Backup in place of
# BackupAndRestore(save_freq="epoch"): a layer counts the batches it has seen.


class _Canary(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.counter = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False)

    def call(self, x):
        self.counter.assign_add(1)
        return x


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError("EpochInterruption")


class _HeldWrites(Backup):
    """Every write after the first waits until `release` is set, so epoch 2's is in flight when `fit` raises."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes, self.holding, self.release = 0, threading.Event(), threading.Event()

    def _save(self, state):
        self.writes += 1
        if self.writes > 1:
            self.holding.set()
            self.release.wait(timeout=60)
        super()._save(state)


def _canary_model():
    model = keras.Sequential([keras.Input((3,)), _Canary(), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", metrics=["mse"])
    return model


@pytest.mark.parametrize("rerun_with", ["the same Backup", "a new Backup"])
def test_a_fit_interrupted_after_an_epoch_resumes_after_it_in_the_same_process(tmp_path, rerun_with):
    model, folder = _canary_model(), tmp_path / "subdir"
    x, y = np.random.random((10, 3)), np.random.random((10, 1))
    first = _HeldWrites(folder, budget=0)
    with pytest.raises(RuntimeError, match="EpochInterruption"):
        model.fit(x, y, batch_size=4, epochs=6, callbacks=[first, _Interrupt(2)], verbose=0)
    assert int(model.layers[0].counter.value) == 6
    # The fault fires: epoch 2's backup has begun and is held, and the file on disk holds epoch 1.
    assert first.holding.wait(timeout=60) and backed_up_epochs(folder) == 1
    first.release.set()
    second = first if rerun_with == "the same Backup" else Backup(folder, budget=0)
    history = model.fit(x, y, batch_size=4, epochs=5, callbacks=[second], verbose=0)
    assert second.resumed_epoch == 2 and history.epoch[-1] == 4
    assert int(model.layers[0].counter.value) == 5 * 3  # Keras's test: 15 batches, none run twice
    assert not folder.exists()  # a fit that finishes removes the backup, as BackupAndRestore does


def test_it_takes_backup_and_restores_arguments_with_their_meaning():
    import inspect

    keras_names = list(inspect.signature(keras.callbacks.BackupAndRestore).parameters)
    assert list(inspect.signature(Backup).parameters)[: len(keras_names)] == keras_names
    with pytest.raises(ValueError, match=r"^save_freq must be 'epoch': .* Received: save_freq=10$"):
        Backup("b", save_freq=10)


@pytest.mark.parametrize("double_checkpoint", [True, False])
def test_double_checkpoint_restores_the_previous_backup_when_the_last_is_damaged(tmp_path, double_checkpoint):
    x, y = _data()
    model = _model()
    model.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        callbacks=[Backup(str(tmp_path), double_checkpoint=double_checkpoint, delete_checkpoint=False, budget=0)],
    )
    assert os.path.exists(tmp_path / "backup.previous.npz") == double_checkpoint
    (tmp_path / BACKUP_FILE).write_bytes(b"damaged by the disk")
    resumed = Backup(str(tmp_path), double_checkpoint=double_checkpoint, delete_checkpoint=False, budget=0)
    if not double_checkpoint:
        with pytest.raises(RunError, match=r"backup.npz cannot be read"):
            _model().fit(x, y, epochs=3, verbose=0, callbacks=[resumed])
        return
    _model().fit(x, y, epochs=3, verbose=0, callbacks=[resumed])
    assert resumed.resumed_epoch == 2 and resumed.saved_epochs == [3]  # epoch 2's backup; epoch 3 trained again


def test_an_empty_backup_dir_is_refused():
    for folder in ("", None):
        with pytest.raises(ValueError, match="backup_dir must name a folder"):
            Backup(folder)
