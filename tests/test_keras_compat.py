"""The Keras names polykeras relies on that are not public API: each must still exist and mean what polykeras uses."""

import keras
import numpy as np
import pytest
from keras.src.utils import module_utils

from polykeras import keras_compat

USES = [(owner, name) for owner, names in keras_compat.PRIVATE_NAMES.items() for name in names]


@pytest.mark.parametrize("owner, name", USES, ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n in USES])
def test_every_private_name_polykeras_uses_is_still_there(owner, name):
    if owner is keras.Model and name == "_initial_epoch":  # an attribute a model sets in __init__
        assert hasattr(keras.Sequential([keras.Input((1,))]), name)
        return
    if owner is keras.optimizers.Optimizer and name == "_learning_rate":  # one an optimizer sets in __init__
        assert hasattr(keras.optimizers.SGD(0.1), name)
        return
    if name == "_available":  # an attribute the lazy module sets in __init__
        assert hasattr(module_utils.tensorflow, name)
        return
    assert hasattr(owner, name), f"Keras {keras.__version__} has no {owner}.{name}"


def test_the_lazy_tensorflow_module_is_the_one_keras_asks():
    from keras.src.saving import serialization_lib
    from keras.src.utils import rng_utils

    assert isinstance(module_utils.tensorflow, module_utils.LazyModule)
    assert serialization_lib.tf is module_utils.tensorflow and rng_utils.tf is module_utils.tensorflow


def test_the_schedule_and_the_resumed_epoch_are_what_keras_uses():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    optimizer = keras.optimizers.SGD(schedule)
    assert keras_compat.schedule_or_rate(optimizer) is schedule
    constant = keras.optimizers.SGD(0.25)
    assert keras_compat.schedule_or_rate(constant) is constant.learning_rate
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []

    class Epochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            keras_compat.resume_at_epoch(self.model, 2)  # as Backup does, from on_train_begin

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    model.fit(np.zeros((1, 1)), np.zeros((1, 1)), epochs=4, verbose=0, callbacks=[Epochs()])
    assert seen == [2, 3]


@pytest.mark.any_backend("torch")  # in a process of its own on PyTorch: on TensorFlow, nothing is hidden
def test_tensorflow_is_hidden_for_the_block_and_found_again_after_it():
    """In a process where TensorFlow is not imported: Keras finds it absent inside, and as before outside."""
    from helpers import run_python

    code = """
import importlib.util, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras
from keras.src.utils import module_utils
from polykeras import keras_compat
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
with keras_compat.tensorflow_hidden():
    model.to_json()
    inside = module_utils.tensorflow.available
imported, cached = "tensorflow" in sys.modules, module_utils.tensorflow._available
print(imported, inside, cached, module_utils.tensorflow.available, importlib.util.find_spec("tensorflow") is not None)
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    imported, inside, cached, after, installed = done.stdout.split()
    assert (imported, inside, cached) == ("False", "False", "None")  # hidden inside; nothing cached after
    assert after == installed  # then Keras finds it when asked, as without polykeras
