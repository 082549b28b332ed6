#!/usr/bin/env python
"""How far a resumed run ends from the unbroken one: polykeras.Backup beside Keras's BackupAndRestore, per backend.

    .venv/bin/python benchmarks/resume_exactness.py [--backends tensorflow jax torch]

A small model that draws from every random state training has (`Dropout`, `GaussianNoise`, and `fit`'s default
`shuffle=True`) trains 6 epochs unbroken; the same run crashes after epoch 3 (an exception) and is resumed from
the callback's backup in the same process. Printed: the largest difference between the two runs' final weights,
for each callback, on each backend (each in a fresh process).
"""

import argparse
import json
import os
import subprocess
import sys

RUN = """
import json, sys, tempfile
import keras, numpy as np
from polykeras import backend
from polykeras.backup import Backup

def model():
    backend.set_random_seed(1)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dropout(0.3),
                          keras.layers.GaussianNoise(0.2), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return m

x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
y = (x.sum(axis=1, keepdims=True) ** 2).astype("float32")
unbroken = model()
unbroken.fit(x, y, epochs=6, batch_size=16, verbose=0)

class Crash(Exception):
    pass

class CrashAfterEpoch3(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise Crash

found = {}
for name, make in (("polykeras.Backup", lambda folder: Backup(folder, budget=0)),
                   ("keras.callbacks.BackupAndRestore", lambda folder: keras.callbacks.BackupAndRestore(folder))):
    folder = tempfile.mkdtemp()
    first = make(folder)
    try:
        model().fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[first, CrashAfterEpoch3()])
    except Crash:
        getattr(first, "wait", lambda: None)()
    resumed = model()
    resumed.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[make(folder)])
    found[name] = max(float(np.max(np.abs(a - b))) for a, b in zip(resumed.get_weights(), unbroken.get_weights()))
print(json.dumps(found))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    args = parser.parse_args()
    print("largest difference from the unbroken run's weights, after a crash at epoch 3 of 6 and a resume:")
    for name in args.backends:
        env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True)
        found = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {name:<10}  " + "   ".join(f"{callback} {value:.3g}" for callback, value in found.items()))


if __name__ == "__main__":
    main()
