"""Structures of arrays as `fit` takes them (one array, or lists and dicts of arrays): counted, indexed, split.

Example:

>>> import numpy as np
>>> x = {"a": np.arange(10), "b": np.ones((10, 2))}
>>> samples(x), take(x, [0, 9])["a"].tolist()
(10, [0, 9])
>>> (train, _), (validation, _) = split_last(x, np.arange(10), 0.2)
>>> samples(train), samples(validation)
(8, 2)
"""

import keras
import numpy as np

from polykeras.checks import check_number
from polykeras.errors import InvalidArgumentError


def is_arrays(x):
    """Whether `x` is an array, or a non-empty list, tuple or dict of arrays (what `fit` slices into batches)."""
    if isinstance(x, dict):
        return bool(x) and all(is_arrays(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(hasattr(v, "shape") and hasattr(v, "__len__") for v in x)
    return hasattr(x, "shape") and hasattr(x, "__len__") and len(getattr(x, "shape", ())) > 0


def samples(structure):
    """The number of samples: the length of the structure's first array."""
    return len(keras.tree.flatten(structure)[0])


def take(structure, index):
    """The samples `index` (an index array or a slice) of every array of `structure`; None stays None."""
    if structure is None:
        return None
    return keras.tree.map_structure(lambda a: np.asarray(a)[index], structure)


def split_last(x, y, validation_split):
    """`((x, y), (x, y))`: the first part and the last `validation_split` of the samples, as Keras's `fit` splits.

    Raises:
        InvalidArgumentError: unless `validation_split` is in (0, 1) and leaves samples on both sides.
    """
    check_number(validation_split, "validation_split", above=0, below=1)
    count = samples(x)
    cut = round(count * (1 - validation_split))
    if not 0 < cut < count:
        raise InvalidArgumentError(
            f"validation_split leaves no training or no validation sample of {count}. "
            f"Received: validation_split={validation_split!r}",
            "validation_split",
        )
    first, last = slice(None, cut), slice(cut, None)
    return (take(x, first), take(y, first)), (take(x, last), take(y, last))
