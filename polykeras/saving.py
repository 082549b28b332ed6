"""Saving and serialising models without importing TensorFlow on the other backends; files that load on every
backend, without importing another; loading only with `safe_mode=True`.

Keras serialises every object's config through `serialize_keras_object`,
which asks TensorFlow, when it is installed, whether the object is one of
TensorFlow's types: `get_config`, `to_json`, `clone_model` and `save` import
all of TensorFlow into a JAX or PyTorch process. The functions here do the
same without it (`keras_compat.tensorflow_hidden`).

Keras also names a model's optimizer, when the model was compiled on PyTorch,
by a module of its PyTorch backend (`keras.src.backend.torch.optimizers.
torch_adam.Adam`), and loading such a file imports PyTorch, on any backend.
`save_model` writes the public name instead (`keras.optimizers.Adam`, which
each backend makes its own), and `load_model` reads files that plain Keras
saved the same way (`keras_compat.neutral_config`).

Example:

>>> import os, tempfile
>>> from polykeras.mnist import mnist_mlp
>>> path = os.path.join(tempfile.mkdtemp(), "mlp.keras")
>>> mnist_mlp(hidden=(8,), augment=False).save(path)
>>> load_model(path).output_shape
(None, 10)
>>> load_digit_model(path).name  # also checks it maps 28x28 images to 10 classes
'mnist_mlp'
"""

import json
import os
import shutil
import tempfile
import zipfile

import keras

from polykeras import backend, keras_compat
from polykeras.atomic import atomic_file
from polykeras.errors import InvalidArgumentError

CONFIG_FILE = "config.json"  # in a `.keras` archive: the model's architecture and compile configuration


def save_model(model, path):
    """`model.save(path)` (a `.keras` file) that loads on every backend, without importing TensorFlow on the others.

    Keras asks TensorFlow, when it is installed, whether each object it
    serialises is one of TensorFlow's types; on the other backends none can
    be, so it is not asked (`keras_compat.tensorflow_hidden`). The file names
    Keras's backend-specific classes by their public ones.
    """
    with keras_compat.tensorflow_hidden():
        model.save(path)
    config = _neutral_config(path)
    if config is not None:
        _write_archive(path, path, config)


def _neutral_config(path):
    """The `.keras` file's config with backend-specific names made public, or None when it has none."""
    with zipfile.ZipFile(path) as archive:
        config, changed = keras_compat.neutral_config(json.loads(archive.read(CONFIG_FILE)))
    return json.dumps(config) if changed else None


def _write_archive(source, path, config):
    """Writes the `.keras` archive `source` to `path` (atomically) with `config` as its config."""
    with zipfile.ZipFile(source) as archive, atomic_file(path) as f, zipfile.ZipFile(f, "w") as copy:
        for entry in archive.infolist():
            if entry.filename == CONFIG_FILE:
                copy.writestr(entry, config)
            else:
                with archive.open(entry) as src, copy.open(entry, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


def model_json(model):
    """`model.to_json()`, without importing TensorFlow on JAX or PyTorch (see `save_model`)."""
    with keras_compat.tensorflow_hidden():
        return model.to_json()


def clone_model(model):
    """`keras.models.clone_model(model)`: the same architecture with new weights (see `save_model`)."""
    with keras_compat.tensorflow_hidden():
        return keras.models.clone_model(model)


def compile_config(model):
    """`model.get_compile_config()`: its loss, metrics and optimizer, serialised (see `save_model`)."""
    with keras_compat.tensorflow_hidden():
        return model.get_compile_config()


def optimizer_config(optimizer):
    """`optimizer.get_config()` (see `save_model`)."""
    with keras_compat.tensorflow_hidden():
        return optimizer.get_config()


def load_model(path):
    """Loads a `.keras` model (a path, `str` or `os.PathLike`) with `safe_mode=True`.

    polykeras's layers are registered when it is imported.

    A model saved on another backend runs as this backend runs its own
    (`backend.adopt`: on PyTorch, not through `torch.compile`), and loading
    it imports no other backend, even from a file plain Keras wrote.

    Raises:
        InvalidArgumentError: for a missing file, a file that is not a
            `.keras` archive, or one that cannot be loaded in safe mode (a
            `Lambda` layer, say), with the first line of Keras's reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"model file not found. Received: {path}")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise InvalidArgumentError(f"not a .keras model file. Received: {path}")
    try:
        config = _neutral_config(path)
        with tempfile.TemporaryDirectory() as folder, keras_compat.tensorflow_hidden():
            if config is not None:  # saved by plain Keras on PyTorch: named as every backend can load it
                neutral = os.path.join(folder, os.path.basename(path))
                _write_archive(path, neutral, config)
            model = keras.saving.load_model(path if config is None else neutral, safe_mode=True)
    except Exception as e:  # Keras raises many types for a bad archive.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidArgumentError(f"cannot load {path} with safe_mode=True: {first}") from None
    return backend.adopt(model)


def load_digit_model(path):
    """`load_model`, for a model that maps 28x28 images to 10 digit probabilities.

    Raises:
        InvalidArgumentError: as `load_model`, or when the model has other shapes.
    """
    model = load_model(path)
    try:  # a subclassed model (the polynomial's) has no declared shapes
        shapes = f"input {model.input_shape}, output {model.output_shape}"
        fits = tuple(model.input_shape[1:]) == (28, 28) and model.output_shape[-1] == 10
    except (AttributeError, ValueError):
        shapes, fits = f"a {type(model).__name__}", False
    if not fits:
        raise InvalidArgumentError(f"{path} is not a digit classifier (28x28 images to 10 classes). Received: {shapes}")
    return model
