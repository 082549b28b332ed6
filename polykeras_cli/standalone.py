"""polykeras's standalone modules, loaded from their files without importing polykeras, which imports Keras.

`polykeras.backend_choice` and `polykeras.bounds` import nothing of
polykeras's or Keras's, so the command line loads them this way and names the
backends and states bounds exactly as the library does, before any backend
is imported.
"""

import importlib.util
import sys

STANDALONE = ("backend_choice", "bounds")


def load(name):
    """The module `polykeras.<name>`, one of `STANDALONE`, loaded once from its file as `polykeras_cli._<name>`."""
    if name not in STANDALONE:
        raise ValueError(f"polykeras.{name} is not standalone: it cannot be loaded without Keras")
    loaded = f"polykeras_cli._{name}"
    if loaded not in sys.modules:
        package = importlib.util.find_spec("polykeras").submodule_search_locations[0]
        spec = importlib.util.spec_from_file_location(loaded, f"{package}/{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[loaded] = module
    return sys.modules[loaded]
