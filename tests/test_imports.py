"""How polykeras's modules depend on each other: one way, layer on layer, with no cycle, and no import of another
polykeras module inside a function but the one that loads matplotlib."""

import ast
import os

import pytest
from helpers import REPO

pytestmark = pytest.mark.any_backend

# polykeras's layers, the lowest first: a module imports from lower layers only, or from its own package. A module
# that is not listed fails the test, so that a new one is placed on purpose.
LAYERS = [
    ["errors", "backend_choice", "bounds", "atomic", "keras_compat", "resources", "plots", "seed"],
    ["checks"],
    ["arrays", "runs", "dashboard", "data", "layers", "guards"],
    ["backend"],
    ["random_states", "summary", "saving", "diagnostics", "augment"],
    ["optimizers", "backup"],
    ["tensorboard"],
    ["kerastuner_compat", "polynomial_panel", "lr_finder"],
    ["polynomial", "mnist"],
    ["tasks"],
    ["search"],
    ["demo"],
]
# Imports of polykeras modules made inside a function, each for a heavy dependency loaded only when it is used.
LAZY = {"polykeras.plots": "matplotlib"}


def _modules():
    """`{dotted name: path}` of every module of polykeras."""
    found = {}
    for folder, _, files in os.walk(os.path.join(REPO, "polykeras")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                found[dotted] = path
    return found


def _imports(path, modules):
    """`[(imported polykeras module, inside a function)]` of the module at `path`."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    inner = {
        id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(f)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name not in modules and "." in name:
                name = name.rpartition(".")[0]
            if name in modules and name != "polykeras":
                found.append((name, id(node) in inner))
    return found


def _unit(module):
    """The layer entry a module belongs to: its top-level module or package below polykeras."""
    return module.split(".")[1] if module.count(".") else None


def test_every_module_imports_from_below_or_from_its_own_package_and_nothing_inside_functions_but_matplotlib():
    modules = _modules()
    layer = {unit: k for k, units in enumerate(LAYERS) for unit in units}
    unplaced = sorted({_unit(m) for m in modules} - set(layer) - {None})
    assert not unplaced, f"modules of no layer in LAYERS: {unplaced}"
    upward, inside = [], []
    for module, path in modules.items():
        for imported, in_function in _imports(path, modules):
            here, there = _unit(module), _unit(imported)
            if in_function and imported not in LAZY:
                inside.append(f"{module} imports {imported} inside a function")
            if here is None or here == there:
                continue  # polykeras/__init__.py gathers the public names; a package's modules import each other
            if layer[there] >= layer[here]:
                upward.append(f"{module} (layer {layer[here]}) imports {imported} (layer {layer[there]})")
    assert not upward, "\n".join(upward)
    assert not inside, "\n".join(inside)


def test_no_two_modules_import_each_other_even_through_others():
    modules = _modules()
    graph = {m: {i for i, _ in _imports(p, modules) if i != m} for m, p in modules.items()}

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert not cycles, cycles


def test_a_module_placed_above_one_it_needs_is_found():
    """The check itself: `tasks` imports `lr_finder`; placed below it, the test above would fail."""
    modules = _modules()
    needs = {imported for imported, _ in _imports(modules["polykeras.tasks.base"], modules)}
    assert "polykeras.lr_finder" in needs or "polykeras.lr_finder.finder" in needs
    layer = {unit: k for k, units in enumerate(LAYERS) for unit in units}
    assert layer["lr_finder"] < layer["tasks"]
