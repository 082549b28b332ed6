#!/usr/bin/env python
"""Find, then search, the learning rate of a Keras model of your own: lr_find, then KerasTuner on 2 workers.

    python scripts/tune_learning_rate.py
    polykeras tensorboard --logdir logs/scripts/tune     # HParams: score against rate, one run per trial

Steps: a small convnet on MNIST digits, compiled as usual; `polykeras.lr_find`
(the learning-rate range test: one batch per rate, then its candidates
trained briefly and scored on held-out digits, the model restored
afterwards); then `polykeras.search` from a decade below its suggestion to
three times it, with KerasTuner, on WORKERS processes (each trial trains a fresh
clone of the model); the best model retrained and saved.

The workers get the model and the data through the search's folder
(`polykeras_model.keras`, `polykeras_data.npz`). The same script spreads one
search over several machines with KerasTuner's own distributed mode: start
it on each with three environment variables, and the same data.

    # on the chief (serves the oracle at 10.0.0.1:8000, trains nothing)
    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python scripts/tune_learning_rate.py
    # on each worker, with its own id
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python scripts/tune_learning_rate.py

A chief that no worker calls for CHIEF_TIMEOUT seconds while trials are
unfinished (its workers died) names them and exits with code 1.
"""

import logging
import os
import sys

import keras
import numpy as np

import polykeras

logging.basicConfig(format="%(message)s", stream=sys.stdout)
logging.getLogger("polykeras").setLevel(logging.INFO)  # polykeras says which processes it starts

# Settings (the environment variables let CI run it small).
DATA = os.environ.get("DATA", "sample")  # "keras" for all 70,000 digits (downloads them once)
TUNER = os.environ.get("TUNER", "hyperband")  # or random, bayesian, grid
MAX_TRIALS = int(os.environ.get("MAX_TRIALS", 10))  # for random, bayesian and grid
MAX_EPOCHS = int(os.environ.get("MAX_EPOCHS", 9))
WORKERS = int(os.environ.get("WORKERS", 2))
CHIEF_TIMEOUT = float(os.environ.get("CHIEF_TIMEOUT", 1800))
DIRECTORY = os.environ.get("DIRECTORY", "logs/scripts/tune")
SAVE_AS = os.environ.get("SAVE_AS", "best_convnet.keras")

# The data: digits as 28 x 28 x 1 floats in [0, 1], shuffled: the search validates on the last 20 %, as
# Keras's validation_split does, and the sample is stored digit by digit.
(x_train, y_train), (x_test, y_test), _ = polykeras.load_mnist(DATA)
x_train, x_test = (x[..., None].astype("float32") / 255 for x in (x_train, x_test))
order = np.random.default_rng(0).permutation(len(x_train))
x_train, y_train = x_train[order], y_train[order]

# A model of your own, compiled as usual: its loss, metrics and optimizer are what every trial uses.
# Seeded, so that every machine of a distributed search starts lr_find from the same weights.
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ],
    name="convnet",
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

# 1. The learning-rate range test.
found = polykeras.lr_find(model, x_train, y_train, batch_size=64)
print(f"lr_find suggests {found.suggestion:.2g} ({found.method})")
# Rounded, so that every machine of a distributed search, each running this test on the same seeded model and
# data, searches the same space.
lr_range = tuple(float(f"{rate:.2g}") for rate in (found.suggestion / 10, found.suggestion * 3))


def report(trial):
    print(
        f"trial {trial['trial_id']} ({trial['number']} of {trial['total']} done)  "
        f"lr {trial['hyperparameters']['learning_rate']:.1e}  "
        f"{trial['objective']} {trial['score']:.4f}  best {trial['best_score']:.4f}  {trial['seconds']:.0f} s"
    )


# 2. The search from a decade below the suggestion to 3 times it (the check already kept the lowest rate that trains
#    about as well as the best it tried); rerunning the script continues it.
result = polykeras.search(
    model,
    x_train,
    y_train,
    objective="val_accuracy",
    batch_size=64,
    tuner=TUNER,
    max_trials=MAX_TRIALS,
    max_epochs=MAX_EPOCHS,
    directory=DIRECTORY,
    workers=WORKERS,
    lr_range=lr_range,
    chief_timeout=CHIEF_TIMEOUT,
    on_trial_end=report,
)
if result is None:  # this process was a distributed worker; the chief reports
    raise SystemExit(0)

# 3. Results, best first, and the best model retrained and saved.
for trial in result.trials:
    print(
        f"{trial['trial_id']:>4}  lr {trial['hyperparameters']['learning_rate']:.3g}  "
        f"{result.objective} {trial['score']}  {trial['epochs']} epochs  {trial['status']}"
    )
print(
    f"best: {result.best_hyperparameters} ({result.objective} {result.best_score:.4f}), "
    f"{result.trained_epochs} epochs in {result.seconds:.0f} s"
)
best = result.best_model()
accuracy = float(np.mean(np.argmax(best.predict(x_test, verbose=0), axis=1) == y_test))
print(f"test accuracy: {accuracy:.4f}")
best.save(SAVE_AS)
print(f"model: {SAVE_AS}\nlogs: {result.log_dir}")
