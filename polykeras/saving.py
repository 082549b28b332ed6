"""Loading saved models, only ever with `safe_mode=True`.

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

import os
import zipfile

import keras

from polykeras.errors import InvalidArgumentError


def load_model(path):
    """Loads a `.keras` model with `safe_mode=True` (polykeras's layers are registered on import).

    Raises:
        InvalidArgumentError: for a missing file, a file that is not a
            `.keras` archive, or one that cannot be loaded in safe mode (a
            `Lambda` layer, say), with the first line of Keras's reason.
    """
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"model file not found. Received: {path}")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise InvalidArgumentError(f"not a .keras model file. Received: {path}")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many types for a bad archive.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidArgumentError(f"cannot load {path} with safe_mode=True: {first}") from None


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
