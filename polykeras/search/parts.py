"""A user's data in two parts: training, and validation (`validation_data`, or the last `validation_split`).

Example:

>>> import numpy as np
>>> (train, _), (validation, _) = split(np.arange(10.0), np.arange(10), validation_split=0.3)
>>> train.tolist(), validation.tolist()
([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0])
"""

import logging

import numpy as np

from polykeras import arrays

logger = logging.getLogger(__name__)


def split(x, y, validation_data=None, validation_split=0.2):
    """`(train, validation)`: `validation_data`, or the last `validation_split` of `x` and `y`, as Keras's `fit`.

    A warning names the labels that only the validation part holds (`warn_of_unseen_labels`).
    """
    if validation_data is not None:
        train, validation = (x, y), tuple(validation_data)
    else:
        train, validation = arrays.split_last(x, y, validation_split)
    warn_of_unseen_labels(train[1], validation[1])
    return train, validation


def warn_of_unseen_labels(train, validation):
    """Logs a warning naming the class labels that the validation part holds and the training part lacks.

    Sorted data cut by `validation_split` validates on classes it never
    trained on, and every trial then scores about nothing. Labels are
    integer class ids, or one-hot rows.
    """
    seen, checked = _labels(train), _labels(validation)
    unseen = sorted(checked - seen) if seen is not None and checked is not None else []
    if unseen:
        logger.warning(
            "the validation part holds labels the training part never has: %s (sorted data? shuffle "
            "x and y first, or pass validation_data)",
            ", ".join(map(str, unseen)),
        )


def _labels(y):
    """The set of class ids in `y` (integer ids, or one-hot rows), or None for targets that are not labels."""
    y = np.asarray(y) if not isinstance(y, (list, dict)) else None
    if y is None or y.size == 0:
        return None
    if y.ndim == 2 and y.shape[1] > 1 and np.all((y == 0) | (y == 1)):
        return set(np.argmax(y, axis=1).tolist())
    if np.issubdtype(y.dtype, np.integer) and (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        return set(y.reshape(-1).tolist())
    return None
