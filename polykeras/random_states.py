"""The random states training draws from outside a model's variables, captured as NumPy arrays and put back.

Keras keeps a layer's random state (`Dropout`'s, `GaussianNoise`'s) in a seed
generator, a variable of the model. Training also draws from three states of
the process:

- NumPy's global generator: the order `fit` shuffles arrays in on JAX and
  PyTorch (`np.random.permutation` in Keras's array adapter);
- the backend's own (`polykeras.backend.random_state`): PyTorch's global
  generators, which its `DataLoader` shuffles with and Keras's unseeded
  dropout draws from;
- Python's `random`, which a generator of the user's may draw from.

`capture()` returns all of them as a dict of NumPy arrays, which a backup
saves beside the variables (`polykeras.backup`) and a sweep keeps
(`polykeras.lr_finder.sweep`); `restore(state)` puts them back.

Example:

>>> import numpy as np
>>> state = capture()
>>> first = np.random.permutation(10)
>>> restore(state)
>>> bool((np.random.permutation(10) == first).all())
True
"""

import random

import numpy as np

from polykeras import backend


def capture():
    """Every random state of the process that training draws from, as `{name: array}`."""
    _, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss = random.getstate()
    return {
        "numpy_keys": np.array(keys, np.uint32),
        "numpy_position": np.array([position, has_gauss], np.int64),
        "numpy_gauss": np.array([cached], np.float64),
        "python": np.array([version, *internal], np.int64),
        "python_gauss": np.array([np.nan if gauss is None else gauss], np.float64),
        **{f"backend_{name}": value for name, value in backend.random_state().items()},
    }


def restore(state):
    """Puts back what `capture` returned (read back from a file, say)."""
    position, has_gauss = (int(v) for v in state["numpy_position"])
    np.random.set_state(("MT19937", state["numpy_keys"], position, has_gauss, float(state["numpy_gauss"][0])))
    version, *internal = (int(v) for v in state["python"])
    gauss = float(state["python_gauss"][0])
    random.setstate((version, tuple(internal), None if np.isnan(gauss) else gauss))
    backend.set_random_state(
        {name.removeprefix("backend_"): value for name, value in state.items() if name.startswith("backend_")}
    )
