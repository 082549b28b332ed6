"""The Keras backend, chosen before Keras is imported: the one named, else an installed one, said aloud.

Keras runs on the backend `KERAS_BACKEND` names, else the one its
`keras.json` names, else TensorFlow, and fails when that one is not
installed. Keras writes `keras.json` itself the first time it is imported,
naming TensorFlow whatever ran; so polykeras, imported before Keras, chooses
for it (`choose`):

- `KERAS_BACKEND`, when set, is the user's choice: it must be one polykeras
  runs on and be installed;
- else the backend `keras.json` names, when it is installed;
- else TensorFlow when installed (Keras's own default), else JAX, else
  PyTorch: the choice is then made for the user, and said in one line.

This module imports no backend, and neither Keras nor polykeras's other
modules: only which packages are installed is looked at.

Example:

>>> chosen, notice = choose({"KERAS_BACKEND": "jax"}, installed=lambda name: True)
>>> chosen, notice
('jax', None)
>>> choose({}, installed=lambda name: name != "tensorflow", config="tensorflow")
('jax', 'polykeras: keras.json names tensorflow, which is not installed: using jax (set KERAS_BACKEND to choose)')
"""

import importlib.util
import json
import os

# The Keras backends polykeras runs on, in the order it falls back on them; each is the name of its extra
# (`pip install "polykeras[jax]"`), of the package it installs, and of Keras's backend.
BACKENDS = ("tensorflow", "jax", "torch")
EXTRAS = "pip install 'polykeras[tensorflow]', 'polykeras[jax]' or 'polykeras[torch]'"


class BackendUnavailable(ImportError):
    """No Keras backend polykeras runs on can be used: the one named is not one, or is not installed."""


def is_installed(name):
    """Whether the package of backend `name` can be imported (looked up, not imported)."""
    return importlib.util.find_spec(name) is not None


def configured(environ=os.environ):
    """The backend Keras's `keras.json` names (in `KERAS_HOME`, else `~/.keras`), or None."""
    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return json.load(f).get("backend") or None
    except (OSError, ValueError, AttributeError):
        return None


def choose(environ=os.environ, installed=is_installed, config=...):
    """`(backend, notice)`: the backend Keras is to run on, and a line saying why when polykeras chose it.

    Args:
        environ: The process's environment (`KERAS_BACKEND`, `KERAS_HOME`).
        installed: Whether a backend's package is installed.
        config: What `keras.json` names; by default read from `environ`'s Keras home.

    Raises:
        BackendUnavailable: when `KERAS_BACKEND` names a backend polykeras does
            not run on, or one that is not installed, or when none is installed.
    """
    named = environ.get("KERAS_BACKEND")
    if named:
        if named not in BACKENDS:
            raise BackendUnavailable(
                f"polykeras runs on the {', '.join(BACKENDS)} backends, installed by its extras: {EXTRAS}. "
                f"Received: KERAS_BACKEND={named}"
            )
        if not installed(named):
            raise BackendUnavailable(not_installed(named, installed, f"KERAS_BACKEND={named}"))
        return named, None
    config = configured(environ) if config is ... else config
    if config in BACKENDS and installed(config):
        return config, None
    available = [name for name in BACKENDS if installed(name)]
    if not available:
        raise BackendUnavailable(f"no Keras backend is installed: {EXTRAS}")
    chosen = available[0]
    if config is None and chosen == "tensorflow":
        return chosen, None  # Keras's own default, as Keras would choose it
    if config is None:
        why = "no Keras backend is named (KERAS_BACKEND, keras.json) and TensorFlow is not installed"
    else:
        why = f"keras.json names {config}, which " + (
            "is not installed" if config in BACKENDS else "it does not run on"
        )
    return chosen, f"polykeras: {why}: using {chosen} (set KERAS_BACKEND to choose)"


def not_installed(name, installed=is_installed, received=None):
    """The one-line reason a backend that is named cannot be used, with the extra that installs it."""
    others = [b for b in BACKENDS if b != name and installed(b)]
    choose_another = f"; or choose one that is installed: {' or '.join(others)}" if others else ""
    return (
        f"the {name} backend is not installed: pip install 'polykeras[{name}]'{choose_another}. "
        f"Received: {received or name}"
    )
