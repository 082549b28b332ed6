"""Every use of a Keras name that is not public API, in one place.

Keras's public API has no seam for these, so polykeras reads or sets them here
and nowhere else; `tests/test_keras_compat.py` checks each against the
installed Keras, so that a release that renames one fails that test rather
than a training run.

- `tensorflow_hidden()`: Keras imports TensorFlow, when it is installed, on
  every backend, to ask whether an object is one of TensorFlow's types
  (`serialize_keras_object`, so `model.to_json()` and `model.save()`) or to
  seed it (`keras.utils.set_random_seed`). It asks through
  `keras.src.utils.module_utils.tensorflow`, a lazy module whose
  `available` imports TensorFlow and caches the answer in `_available`.
  Inside the block, on a backend other than TensorFlow and with TensorFlow
  not yet imported, that import fails, so Keras treats TensorFlow as absent,
  as in an install without it; afterwards the cached answer is forgotten, so
  a user who imports TensorFlow later (for `tf.data`, or a `TextVectorization`
  layer) finds Keras as before. No object of TensorFlow's can exist before
  TensorFlow is imported, so nothing Keras computes inside changes.
- `schedule_or_rate(optimizer)`: the optimizer's `_learning_rate`, the
  schedule itself when there is one (`learning_rate` evaluates it).
- `resume_at_epoch(model, epoch)`: `fit` starts at `epoch`, as Keras's own
  `BackupAndRestore` makes it, through `model._initial_epoch`.
- `neutral_config(config)`: a model file's config with the backend-specific
  classes Keras names by their private modules (`keras.src.backend.torch.
  optimizers.torch_adam`) named by their public class instead, so that the
  file loads on every backend without importing the one that wrote it.

Example:

>>> import keras
>>> optimizer = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
>>> type(schedule_or_rate(optimizer)).__name__
'ExponentialDecay'
"""

import contextlib
import sys

import keras
from keras.src.utils import module_utils

# What the functions below use, by owner: checked by tests/test_keras_compat.py.
PRIVATE_NAMES = {
    module_utils: ("tensorflow",),
    module_utils.LazyModule: ("available", "_available"),
    keras.optimizers.Optimizer: ("_learning_rate",),
    keras.Model: ("_initial_epoch",),
}


@contextlib.contextmanager
def tensorflow_hidden():
    """Keras treats TensorFlow as absent inside the block, unless it runs on TensorFlow or TensorFlow is imported."""
    if keras.backend.backend() == "tensorflow" or sys.modules.get("tensorflow") is not None:
        yield
        return
    lazy = module_utils.tensorflow
    cached = lazy._available
    hidden = "tensorflow" not in sys.modules
    if hidden:
        sys.modules["tensorflow"] = None  # `import tensorflow` now raises ImportError
    try:
        yield
    finally:
        if hidden and sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]
        if lazy.module is None:
            lazy._available = cached  # forget the "absent" learnt inside


def schedule_or_rate(optimizer):
    """The optimizer's learning-rate schedule, or its rate variable when it has none."""
    return optimizer._learning_rate


def resume_at_epoch(model, epoch):
    """Makes the `fit` being started run from `epoch` (0-based), as `keras.callbacks.BackupAndRestore` does."""
    model._initial_epoch = epoch


# Keras writes an object of one of its backend-specific classes under that class's module, which only that backend
# can import: PyTorch's optimizers (`keras.src.backend.torch.optimizers.torch_adam.Adam`), each a subclass of the
# public optimizer of the same name (`keras.optimizers.Adam`), which Keras turns into the backend's own on each.
BACKEND_MODULES = "keras.src.backend."


def neutral_config(config):
    """`config` (a model file's, as JSON) with every backend-specific optimizer named by its public class instead.

    Returns:
        `(config, changed)`: the config, and whether anything was renamed.
    """
    if isinstance(config, list):
        found = [neutral_config(item) for item in config]
        return [item for item, _ in found], any(changed for _, changed in found)
    if not isinstance(config, dict):
        return config, False
    module, name = config.get("module"), config.get("class_name")
    renamed = (
        isinstance(module, str)
        and module.startswith(BACKEND_MODULES)
        and ".optimizers." in module
        and isinstance(getattr(keras.optimizers, str(name), None), type)
    )
    if renamed:
        config = {**config, "module": "keras.optimizers", "registered_name": None}
    found = {key: neutral_config(value) for key, value in config.items()}
    return {key: item for key, (item, _) in found.items()}, renamed or any(changed for _, changed in found.values())
