"""Names that moved: a module-level `__getattr__` that finds each where it went, with a `DeprecationWarning`.

Example:

>>> import warnings
>>> lookup = moved("old", {"sqrt": "math", "root": ("math", "sqrt"), "gone": None})
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     lookup("root")(9.0), str(caught[0].message)
(3.0, 'old.root is deprecated; use math.sqrt')
"""

import importlib
import warnings


def moved(module, names):
    """A module `__getattr__` for `names`: `{old name: new module, or (new module, new name), or None if gone}`."""

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where = names[name]
        if where is None:
            raise AttributeError(f"{module}.{name} was removed; see {module}'s docstring for where its work went")
        target, new_name = where if isinstance(where, tuple) else (where, name)
        warnings.warn(f"{module}.{name} is deprecated; use {target}.{new_name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(target), new_name)

    return __getattr__
