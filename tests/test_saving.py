"""polykeras.saving: models that cross backends both ways, a file that loads without importing another backend
(even one plain Keras wrote on PyTorch), adopted as the backend runs its own; loading only in safe mode."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from helpers import BACKENDS

from polykeras.saving import load_model, save_model

# One process per backend, all three side by side: it saves its polynomial and its MLP (with polykeras, and the MLP
# with plain Keras too), waits for the others' files, loads them, and reports what it measured, what it saved, and
# the backends' packages that loading imported (set of modules after minus before).
CROSSING = """
import json, os, sys, time
import numpy as np
import keras
import polykeras
from polykeras.mnist import compile_mnist, mnist_mlp
from polykeras.saving import load_model, save_model

here, backends = keras.backend.backend(), sys.argv[1].split(",")
IMAGES = polykeras.load_mnist("sample")[1][0][:50]


def measured(poly, mlp):
    layer = poly.get_layer("polynomial")
    return {"poly": np.asarray(poly.predict(np.linspace(-1, 1, 7), verbose=0)).tolist(),
            "mlp": np.asarray(mlp.predict(IMAGES, verbose=0)).tolist(),
            "layer": [type(layer).__module__, layer.basis, layer.basis_coefficients.dtype,
                      [w.name for w in poly.trainable_weights]],
            "jit_compile": [bool(poly.jit_compile), bool(mlp.jit_compile)]}


poly = polykeras.fit_polynomial(*polykeras.synthetic_polynomial([1, 2, 3], samples=100), degree=5, epochs=5).model
if here == "tensorflow":  # train_mnist's model, trained at 8 steps per call: it must predict on PyTorch too
    (images, labels), test = polykeras.load_mnist("sample")[:2]
    mlp = polykeras.train_mnist(((images[:512], labels[:512]), test), epochs=1, hidden=(32,)).model
else:
    mlp = mnist_mlp(hidden=(32,))  # its custom layers (Deskew, RandomAffine) too
    compile_mnist(mlp, 1e-3, total_steps=10, optimizer="adamw")
files = {f"{here}-poly.keras": lambda path: save_model(poly, path),
         f"{here}-mlp.keras": lambda path: save_model(mlp, path), f"{here}-plain-mlp.keras": mlp.save}
for name, save in files.items():
    save(f"partial-{name}")  # whole or not at all: the others read it when it is there
    os.replace(f"partial-{name}", name)
others = [b for b in backends if b != here]
deadline = time.monotonic() + 400
while not all(os.path.exists(f"{b}-plain-mlp.keras") for b in others):
    assert time.monotonic() < deadline, "the other backends' models never came"
    time.sleep(0.1)
before = set(sys.modules)
loaded = {b: measured(load_model(f"{b}-poly.keras"), load_model(f"{b}-mlp.keras")) for b in others}
plain = {b: np.asarray(load_model(f"{b}-plain-mlp.keras").predict(IMAGES, verbose=0)).tolist() for b in others}
imported = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(others))
print(json.dumps({"saved": measured(poly, mlp), "loaded": loaded, "plain": plain, "imported": imported}))
"""


@pytest.mark.any_backend("jax")  # a process per backend, all three side by side
@pytest.mark.timeout(480)
def test_models_cross_all_three_backends_both_ways_importing_no_other_backend(tmp_path):
    """Each backend saves its polynomial and MLP and loads the two others' with safe_mode=True: six crossings, each
    with the same predictions, adopted as the backend runs its own, and without importing the backend that saved."""
    children = {
        here: subprocess.Popen(
            [sys.executable, "-c", CROSSING, ",".join(BACKENDS)],
            cwd=tmp_path,
            text=True,
            env={**os.environ, "KERAS_BACKEND": here, "TF_CPP_MIN_LOG_LEVEL": "3"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for here in BACKENDS
    }
    results = {}
    try:
        for here, child in children.items():
            out, err = child.communicate(timeout=420)
            assert child.returncode == 0, err[-3000:]
            results[here] = json.loads(out.strip().splitlines()[-1])
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
    # What PyTorch's plain Keras file names: an optimizer of Keras's PyTorch backend, which only PyTorch imports.
    with zipfile.ZipFile(tmp_path / "torch-plain-mlp.keras") as archive:
        assert "keras.src.backend.torch.optimizers" in archive.read("config.json").decode()
    with zipfile.ZipFile(tmp_path / "torch-mlp.keras") as archive:
        assert "keras.src.backend" not in archive.read("config.json").decode()  # polykeras's names the public one
    crossed = []
    for here, result in results.items():
        assert result["imported"] == [], f"loading on {here} imported {result['imported']}"
        for other, measured in result["loaded"].items():
            saved = results[other]["saved"]
            assert measured["layer"] == ["polykeras.layers", "legendre", "float64", ["coefficients"]]
            np.testing.assert_allclose(measured["poly"], saved["poly"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(measured["mlp"], saved["mlp"], rtol=0, atol=1e-5)
            np.testing.assert_allclose(result["plain"][other], saved["mlp"], rtol=0, atol=1e-5)
            if here == "torch":  # run eagerly, as PyTorch runs its own, not through torch.compile
                assert measured["jit_compile"] == [False, False], (other, measured["jit_compile"])
            crossed.append((other, here))
    assert results["jax"]["saved"]["jit_compile"] == [True, True]  # so that the PyTorch check above means something
    assert sorted(crossed) == sorted((a, b) for a in BACKENDS for b in BACKENDS if a != b)


def test_a_saved_model_names_only_public_classes_and_loads_back(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.AdamW(1e-3)), loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    save_model(model, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = archive.read("config.json").decode()
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    assert "keras.src.backend" not in config and '"class_name": "AdamW"' in config
    loaded = load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer.inner_optimizer).__name__ == "AdamW"
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.any_backend
@pytest.mark.parametrize(
    "content, message",
    [
        (None, "model file not found. Received: "),
        (b"not a zip", "not a .keras model file. Received: "),
    ],
)
def test_what_is_not_a_model_file_is_refused_by_name(tmp_path, content, message):
    path = tmp_path / "m.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^{message}"):
        load_model(path)
