"""What the processes of one search share through its project folder, and what a worker trusts there.

The launcher writes, beside KerasTuner's state:

- `polykeras_search_spec.json`: the search, described once (`SearchSpec`);
- `polykeras_data.npz`: the task's training and validation parts, as
  `polykeras.data.save_arrays` writes them (read with `allow_pickle=False`);
- `polykeras_model.keras`: a user's compiled model (loaded with `safe_mode=True`);
- `polykeras_hypermodel.pkl`: a user's `HyperModel` or `build(hp)` function,
  pickled, with the module it comes from.

Only the last runs code when a worker loads it: unpickling imports the
module it names and calls what the pickle says. So a worker trusts it only
as ssh trusts a key file: owned by the user it runs as, writable by nobody
else, in a folder nobody else can write to (`check_trusted`), and refuses it
otherwise, before reading it. The launcher writes it readable by its owner
alone.
"""

import importlib.util
import os
import pickle
import stat
import sys

import keras_tuner

from polykeras.data import load_arrays, save_arrays
from polykeras.errors import InvalidArgumentError
from polykeras.saving import load_model, save_model
from polykeras.search.resolve import TASKS
from polykeras.search.spec import SearchSpec

DATA_FILE = "polykeras_data.npz"
MODEL_FILE = "polykeras_model.keras"
HYPERMODEL_FILE = "polykeras_hypermodel.pkl"


class UntrustedFile(InvalidArgumentError):
    """A file that runs code when loaded, which someone other than this user could have written."""


def check_trusted(path, what):
    """Raises `UntrustedFile` unless `path` and its folder are this user's and writable by nobody else.

    Args:
        path: A file a worker would load code from.
        what: What it is, for the message ("the hypermodel pickle").
    """
    for target, kind in ((path, what), (os.path.dirname(os.path.abspath(path)), f"the folder of {what}")):
        info = os.stat(target)
        if info.st_uid != os.getuid():
            raise UntrustedFile(
                f"{kind} {target} belongs to user id {info.st_uid}, not to this user "
                f"({os.getuid()}); loading it runs code, so it is refused"
            )
        sticky = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
            raise UntrustedFile(
                f"{kind} {target} is writable by its group or by others (mode "
                f"{stat.S_IMODE(info.st_mode):#o}); loading it runs code, so it is refused: "
                f"chmod go-w {target}"
            )


def share(spec, task):
    """Writes the task's files and the spec to the project folder; returns the spec's path.

    Raises:
        InvalidArgumentError: for a model that does not round-trip through
            `.keras` with `safe_mode=True`, a hypermodel that cannot be pickled,
            or inputs given as a dict (which the data file does not hold).
    """
    os.makedirs(spec.project, exist_ok=True)
    save_arrays(os.path.join(spec.project, DATA_FILE), *task.train, validation_data=task.validation)
    files = {"data": DATA_FILE}
    if task.task_name == "model":
        files["model"] = _share_model(task.model, spec.project)
    elif task.task_name == "hypermodel":
        files.update(_share_hypermodel(task.hypermodel, spec.project))
    spec.files = files
    return spec.save()


def _share_model(model, project):
    path = os.path.join(project, MODEL_FILE)
    try:
        save_model(model, path)
        load_model(path)
    except Exception as e:  # a model that does not round-trip cannot reach the workers
        raise InvalidArgumentError(
            f"workers need the model saved and loaded as .keras (safe_mode=True), which "
            f"failed: {type(e).__name__}: {e}. Received: model={model.name!r}",
            "task",
        ) from None
    return MODEL_FILE


def _share_hypermodel(hypermodel, project):
    """Pickles a user's `HyperModel` or `build(hp)` function, readable by its owner alone.

    Pickle saves a class or function by its module and name, so each process
    imports that module again: from its file when it cannot import it by name,
    as `python FILE` would (a script's `__main__` is run as `__mp_main__`, as
    `multiprocessing` does, so its `if __name__ == "__main__":` block does not
    run again).

    Raises:
        InvalidArgumentError: when it cannot be pickled, or lives in an
            interactive session (no file to import it from).
    """
    kind = type(hypermodel) if isinstance(hypermodel, keras_tuner.HyperModel) else hypermodel
    file = getattr(sys.modules.get(kind.__module__), "__file__", None)
    try:
        if kind.__module__ == "__main__" and file is None:
            raise ValueError("it is defined in an interactive session; define it in a module or a script file")
        blob = pickle.dumps(hypermodel)
    except Exception as e:  # lambdas, local functions and classes, unpicklable state
        raise InvalidArgumentError(
            f"workers need the hypermodel pickled, which failed: {e}. Received: task={hypermodel!r}", "task"
        ) from None
    path = os.path.join(project, HYPERMODEL_FILE)
    if os.path.exists(path):
        os.remove(path)  # written anew, with this mode
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(blob)
    return {
        "hypermodel": HYPERMODEL_FILE,
        "hypermodel_module": kind.__module__,
        "hypermodel_source": file and os.path.abspath(file),
    }


def check_spec(spec):
    """Raises `UntrustedFile` for a file of `spec` that would run code and that someone else could have written."""
    if "hypermodel" in spec.files:
        check_trusted(spec.file("hypermodel"), "the hypermodel pickle")
        source = spec.files.get("hypermodel_source")
        if source and not _importable(spec.files["hypermodel_module"]):
            check_trusted(source, "the hypermodel's module")


def _importable(name):
    return name != "__main__" and (name in sys.modules or importlib.util.find_spec(name.split(".")[0]) is not None)


def load_task(spec):
    """The task of `spec`, from its files: the data parts, and the model or the hypermodel (checked first)."""
    check_spec(spec)
    x, y, validation = load_arrays(spec.file("data"))
    parts = ((x, y), validation)
    if spec.task == "model":
        return TASKS["model"](load_model(spec.file("model")), *parts, **spec.task_options)
    if spec.task == "hypermodel":
        return TASKS["hypermodel"](_load_hypermodel(spec), *parts, **spec.task_options)
    return TASKS[spec.task](*parts, **spec.task_options)


def _load_hypermodel(spec):
    """Unpickles the hypermodel, importing the module it refers to from its file if need be."""
    name, file = spec.files["hypermodel_module"], spec.files.get("hypermodel_source")
    if file and not _importable(name):
        sys.path.insert(0, os.path.dirname(file))
        module_spec = importlib.util.spec_from_file_location("__mp_main__" if name == "__main__" else name, file)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = sys.modules[name] = module
        module_spec.loader.exec_module(module)
    with open(spec.file("hypermodel"), "rb") as f:
        return pickle.load(f)


__all__ = ["SearchSpec", "UntrustedFile", "check_spec", "check_trusted", "load_task", "share"]
