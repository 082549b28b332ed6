"""What the tests share beside fixtures: the pass's backend, processes of the venv's Python, and event files read back.

Tests import it by name (`from helpers import read_run`): pytest puts `tests/` on the path.
"""

import os
import subprocess
import sys

import keras
import numpy as np

from polykeras.backend_choice import BACKENDS as BACKENDS  # each a pass of `make test` (POLYKERAS_TEST_PASS)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = keras.backend.backend()


def run_python(code, cwd=None, timeout=120, **environ):
    """Runs `python -c code` in a fresh interpreter (with `environ` added to this one's); returns the
    CompletedProcess."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **environ}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def popen(*args, cwd):
    """Starts `polykeras ARGS...` in a real process (output unbuffered, stderr in stdout)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "polykeras_cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def alive(pid, cwd=None):
    """Whether `pid` is a live process (zombies count as gone), and, with `cwd`, one working in that folder.

    PIDs are reused (here `pid_max` is 32768, and every thread takes one), so a
    process killed a while ago is best recognised by its folder too.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            running = f.read().split(") ")[1][0] != "Z"
        return running and (cwd is None or os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(cwd))
    except (FileNotFoundError, ProcessLookupError):
        return False


def read_run(folder):
    """{tag: [(step, value), ...]} for every tensor summary in the event files under `folder`, read by TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def decode_image(value):
    """The first image of an image summary's tensor `[width, height, png, ...]`, as a uint8 array."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(value[2])))


# ----------------------------------------------------------------------------
# Models of a user's, for the tests of the search


def functional_with_batchnorm():
    """A user's functional model: two inputs, BatchNormalization, Adam on a decaying rate, MAE and an MSE metric."""
    layers = keras.layers
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = layers.BatchNormalization()(layers.Dense(8, activation="relu")(layers.Concatenate()([a, b])))
    model = keras.Model([a, b], layers.Dense(1)(h), name="two_inputs")
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.8), loss="mae", metrics=["mse"])
    return model


@keras.saving.register_keras_serializable(package="tests")
class Subclassed(keras.Model):
    """A user's subclassed model with a config."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def regression_data(inputs, n=20):
    """`(x, y)`: `n` random samples for a model of one input of 3 features, or of two (3 and 2 features)."""
    rng = np.random.default_rng(0)
    x = [rng.random((n, 3), "float32"), rng.random((n, 2), "float32")] if inputs == 2 else rng.random((n, 3), "float32")
    return x, rng.random((n, 1), "float32")


# ----------------------------------------------------------------------------
# A model's state, for the tests of what is restored


def model_state(model):
    """Every variable of the model and its optimizer, with a NumPy copy of its value."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = [*model.variables, *model.metrics_variables, *optimizer.variables]
    return [(v, keras.ops.convert_to_numpy(v).copy()) for v in variables]


def assert_same_state(before, model):
    """Each variable holds its value of before, bit for bit (metrics the check built, which no fit had, start at 0)."""
    assert len(before) >= 3
    for variable, value in before:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value, err_msg=variable.path)
