"""Batches from whatever `fit` takes, parted as `lr_find` needs them: a training part and a validation part.

`parts` gives the training part as a function that starts its batches over,
the same batches in the same order each time (the sweep, then each candidate
of the check, train on them), and the validation part as a list of batches
(what the check scores each candidate on). The two never share a sample.

Example:

>>> import numpy as np
>>> x, y = np.arange(10.0)[:, None], np.arange(10.0)
>>> training, validation, described = parts(x, y, batch_size=4, seed=0, held_out=0.2)
>>> [len(batch[0]) for batch in validation], described
([2], 'a random 20 % of x, held out (seed 0)')
>>> first, again = training(), training()
>>> [len(next(first)[0]) for _ in range(3)], bool((next(again)[0] == next(training())[0]).all())
([4, 4, 4], True)
"""

import keras
import numpy as np

from polykeras import arrays
from polykeras.checks import check_int, check_number
from polykeras.errors import InvalidArgumentError

# The most batches of an iterable `validation_data` the check scores on.
MAX_VALIDATION_BATCHES = 64


def parts(
    x,
    y=None,
    sample_weight=None,
    *,
    batch_size=32,
    seed=0,
    validation_data=None,
    validation_split=None,
    held_out=0.0,
):
    """`(training, validation, described)`: the data parted into what is trained on and what is scored on.

    Args:
        x: Arrays, or lists or dicts of arrays (with `y`); a
            `keras.utils.PyDataset`; a `tf.data.Dataset`; or any Python
            iterable or generator of `(x, y)` or `(x, y, sample_weight)` batches.
        y: Targets, with arrays.
        sample_weight: Weights per sample, with arrays.
        batch_size: Samples per batch, with arrays (every training batch full).
        seed: Seed of the arrays' order (a new shuffle every pass), and of the share held out.
        validation_data: What to validate on, as `fit` takes it: `(x, y)` or
            `(x, y, sample_weight)` arrays, or a dataset or iterable of batches.
        validation_split: With arrays: the last share of `x` to validate on, as `fit`'s.
        held_out: With neither: the share of `x` held out to validate on, or 0
            for none: samples drawn at random from arrays, the last batches
            of a `PyDataset` or a list of batches.

    Returns:
        A `Training`, which starts the training part's batches over when
        called (an iterator that ends, a generator's, ends them); the
        validation part as a list of batches, or None; and how the validation
        part was chosen, or None.

    Raises:
        InvalidArgumentError: for inputs of a kind `fit` does not take, or
            validation that cannot be had from them.
    """
    if validation_split is not None and validation_data is not None:
        raise InvalidArgumentError(
            "give validation_data or validation_split, not both. Received: validation_split="
            f"{validation_split!r} and validation_data",
            "validation_split",
        )
    if isinstance(x, keras.utils.PyDataset) or (isinstance(x, (list, tuple)) and x and not arrays.is_arrays(x)):
        return _indexed_parts(x, validation_data, validation_split, held_out)
    if arrays.is_arrays(x):
        return _array_parts(x, y, sample_weight, batch_size, seed, validation_data, validation_split, held_out)
    if hasattr(x, "__iter__"):  # a tf.data.Dataset, a generator, a torch DataLoader, any iterable of batches
        if y is not None or sample_weight is not None:
            raise InvalidArgumentError(
                "y and sample_weight go with arrays; a dataset or generator yields them in "
                f"each batch. Received: x of type {type(x).__name__} and y",
                "y",
            )
        _refuse_split(x, validation_split)
        if held_out and validation_data is None:
            raise InvalidArgumentError(
                "the check scores its candidates on validation data, which cannot be held out of a dataset or "
                "generator: pass validation_data, or check=False for the sweep's pick alone. Received: x of type "
                f"{type(x).__name__} and no validation_data",
                "validation_data",
            )
        replay = _Replay(x)
        size = len(x) if hasattr(x, "__len__") else None
        return Training(replay, size), _validation(validation_data, batch_size), _described(validation_data)
    raise InvalidArgumentError(
        f"x must be arrays (or lists or dicts of them), a keras.utils.PyDataset, a "
        f"tf.data.Dataset or an iterable of batches. Received: x of type "
        f"{type(x).__name__}",
        "x",
    )


def _array_parts(x, y, sample_weight, batch_size, seed, validation_data, validation_split, held_out):
    if y is None:
        raise InvalidArgumentError("y is needed with array inputs. Received: y=None", "y")
    check_int(batch_size, "batch_size")
    count = arrays.samples(x)
    index = np.arange(count)
    validation, described = None, _described(validation_data)
    if validation_split is not None:
        (train, _), (held, _) = arrays.split_last(index, index, validation_split)
        described = f"the last {100 * validation_split:g} % of x (validation_split)"
    elif validation_data is None and held_out:
        order = np.random.default_rng(seed).permutation(count)
        cut = max(1, round(held_out * count))
        held, train = np.sort(order[:cut]), np.sort(order[cut:])
        described = f"a random {100 * held_out:g} % of x, held out (seed {seed})"
    else:
        train, held = index, None
    if held is not None:
        parted = [arrays.take(part, held) for part in (x, y, sample_weight)]
        validation = [
            tuple(arrays.take(part, slice(k, k + batch_size)) for part in parted)
            for k in range(0, len(held), batch_size)
        ]
    elif validation_data is not None:
        validation = _validation(validation_data, batch_size)
    if len(train) < batch_size:
        raise InvalidArgumentError(
            f"batch_size is larger than the {len(train)} samples trained on. Received: batch_size={batch_size}",
            "batch_size",
        )
    train_parts = [arrays.take(part, train) for part in (x, y, sample_weight)]
    return (
        Training(lambda: _array_batches(train_parts, batch_size, seed), len(train) // batch_size),
        validation,
        described,
    )


class Training:
    """The training part: calling it starts its batches over, the same ones in the same order each time.

    Attributes:
        steps_per_pass: The batches in one pass over it, or None when unknown (a generator).
    """

    def __init__(self, start, steps_per_pass):
        self._start, self.steps_per_pass = start, steps_per_pass

    def __call__(self):
        return self._start()


def _array_batches(parts, batch_size, seed):
    count = arrays.samples(parts[0])
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count)
        for k in range(count // batch_size):
            index = order[k * batch_size : (k + 1) * batch_size]
            yield tuple(arrays.take(part, index) for part in parts)


def _indexed_parts(dataset, validation_data, validation_split, held_out):
    """The parts of a `PyDataset`, or of a list of batches: the last batches held out, when they are."""
    _refuse_split(dataset, validation_split)
    count, held = len(dataset), []
    if validation_data is None and held_out:
        held = list(range(count - max(1, round(held_out * count)), count))
        if len(held) >= count:
            raise InvalidArgumentError(
                f"the check holds out {len(held)} of the dataset's {count} batches and none is left to train on: "
                f"pass validation_data. Received: {type(dataset).__name__} of {count} batches",
                "validation_data",
            )
    train = list(range(count - len(held)))
    if held:
        validation = [_unpacked(dataset[k]) for k in held]
        described = f"the last {len(held)} of the dataset's {count} batches, held out"
    else:
        validation, described = _validation(validation_data, None), _described(validation_data)
    return Training(lambda: _indexed_batches(dataset, train), len(train)), validation, described


def _indexed_batches(dataset, indices):
    while True:
        for k in indices:
            yield _unpacked(dataset[k])
        if isinstance(dataset, keras.utils.PyDataset):
            dataset.on_epoch_end()


class _Replay:
    """The batches of an iterable, recorded as they come, so that each start over gives the same ones again."""

    def __init__(self, iterable):
        self._source = _iterable_batches(iterable)
        self._seen = []

    def __call__(self):
        k = 0
        while True:
            if k == len(self._seen):
                batch = next(self._source, None)
                if batch is None:
                    return
                self._seen.append(batch)
            yield self._seen[k]
            k += 1


def _iterable_batches(iterable):
    while True:
        iterator = iter(iterable)
        for batch in iterator:
            yield _unpacked(batch)
        if iterator is iterable:  # a generator or iterator: it cannot start again
            return


def _validation(validation_data, batch_size):
    """The batches of `validation_data`: arrays cut into `batch_size` pieces, or an iterable's first batches."""
    if validation_data is None:
        return None
    if isinstance(validation_data, (tuple, list)) and all(
        part is None or arrays.is_arrays(part) for part in validation_data
    ):
        parts = (*validation_data, None, None)[:3]
        if parts[1] is None:
            raise InvalidArgumentError("validation_data must be (x, y) or (x, y, sample_weight)", "validation_data")
        size = batch_size or arrays.samples(parts[0])
        return [
            tuple(arrays.take(part, slice(k, k + size)) for part in parts)
            for k in range(0, arrays.samples(parts[0]), size)
        ]
    if isinstance(validation_data, keras.utils.PyDataset):
        return [_unpacked(validation_data[k]) for k in range(min(len(validation_data), MAX_VALIDATION_BATCHES))]
    if hasattr(validation_data, "__iter__"):
        taken = []
        for batch in validation_data:
            taken.append(_unpacked(batch))
            if len(taken) == MAX_VALIDATION_BATCHES:
                break
        if not taken:
            raise InvalidArgumentError("validation_data yields no batch. Received: an empty dataset", "validation_data")
        return taken
    raise InvalidArgumentError(
        f"validation_data must be (x, y) arrays or a dataset of batches. Received: {type(validation_data).__name__}",
        "validation_data",
    )


def _described(validation_data):
    return None if validation_data is None else "validation_data"


def _refuse_split(x, validation_split):
    if validation_split is not None:
        check_number(validation_split, "validation_split", above=0, below=1)
        raise InvalidArgumentError(
            "validation_split takes a share of arrays, as fit's does; with a dataset or generator, pass "
            f"validation_data. Received: validation_split={validation_split!r} and x of type {type(x).__name__}",
            "validation_split",
        )


def _unpacked(batch):
    return keras.utils.unpack_x_y_sample_weight(tuple(batch) if isinstance(batch, list) else batch)
