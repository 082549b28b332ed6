#!/usr/bin/env python
"""Search the MLP's learning rate with KerasTuner, log every trial, and save the best model.

    python scripts/tune_learning_rate.py
    polykeras tensorboard --logdir logs/scripts/tune     # HParams: score against rate

The same script spreads one search over several machines with KerasTuner's own
distributed mode. Start it on each machine with three environment variables:

    # on the chief (serves the oracle at 10.0.0.1:8000, trains nothing)
    KERASTUNER_TUNER_ID=chief   KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 python scripts/tune_learning_rate.py
    # on each worker, with its own id
    KERASTUNER_TUNER_ID=tuner0  KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 python scripts/tune_learning_rate.py

On one machine, WORKERS=2 starts such a chief and two workers on 127.0.0.1 itself.
"""

import os

import keras_tuner

import polykeras
from polykeras.tuning import MnistHyperModel

# Settings (the environment variables let CI run it small).
DATA = os.environ.get("DATA", "sample")
TUNER = os.environ.get("TUNER", "hyperband")  # or random, bayesian, grid
MAX_TRIALS = int(os.environ.get("MAX_TRIALS", 10))  # for random, bayesian and grid
MAX_EPOCHS = int(os.environ.get("MAX_EPOCHS", 9))
WORKERS = int(os.environ.get("WORKERS", 0))
DIRECTORY = os.environ.get("DIRECTORY", "logs/scripts/tune")
SAVE_AS = os.environ.get("SAVE_AS", "best_mnist_mlp.keras")

# The search space: a HyperModel builds and compiles a model from a learning rate.
*digits, _ = polykeras.load_mnist(DATA)
hypermodel = MnistHyperModel(digits, max_epochs=MAX_EPOCHS)
hypermodel.build(keras_tuner.HyperParameters())  # smoke test: the default rate builds a model
print(f"search space: learning rate {hypermodel.lr_range[0]:g} to {hypermodel.lr_range[1]:g}, log-uniform")


def report(trial):
    print(f"trial {trial['number']}/{trial['total']}  lr {trial['hyperparameters']['learning_rate']:.1e}  "
          f"{trial['objective']} {trial['score']:.4f}  best {trial['best_score']:.4f}  {trial['seconds']:.0f} s")


# Search: every trial logs to DIRECTORY/mnist/tensorboard/<trial>; rerunning continues the search.
result = polykeras.search("mnist", digits, tuner=TUNER, max_trials=MAX_TRIALS, max_epochs=MAX_EPOCHS,
                          directory=DIRECTORY, workers=WORKERS, on_trial_end=report)
if result is None:  # this process was a distributed worker; the chief reports
    raise SystemExit(0)

# Results, best first, and the best model retrained and saved.
for trial in result.trials:
    print(f"{trial['trial_id']:>4}  lr {trial['hyperparameters']['learning_rate']:.3g}  "
          f"{result.objective} {trial['score']}  {trial['epochs']} epochs  {trial['status']}")
print(f"best: {result.best_hyperparameters} ({result.objective} {result.best_score:.4f}), "
      f"{result.trained_epochs} epochs in {result.seconds:.0f} s")
result.best_model().save(SAVE_AS)
print(f"model: {SAVE_AS}\nlogs: {result.log_dir}")
