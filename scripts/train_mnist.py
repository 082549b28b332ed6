#!/usr/bin/env python
"""Train the MNIST MLP on real digits with `compile`/`fit`, and save it.

    python scripts/train_mnist.py
    polykeras evaluate mnist_mlp.keras --data sample

The data is the 5,000-digit sample shipped in the package (no download); set
DATA=keras for the full set through Keras's own loader.
"""

import os

import keras
import numpy as np

import polykeras
from polykeras.mnist import compile_mnist

# Settings (the environment variables let CI run it small).
DATA = os.environ.get("DATA", "sample")
EPOCHS = int(os.environ.get("EPOCHS", 60))
BATCH_SIZE = 64
LEARNING_RATE = 1e-3  # Adam's initial rate, decayed along a cosine
HIDDEN = (512, 512)
DROPOUT = 0.2
SAVE_AS = os.environ.get("SAVE_AS", "mnist_mlp.keras")
LOG_DIR = os.environ.get("LOG_DIR", "logs/scripts/train_mnist")

# Data: uint8 images; the model rescales them itself.
(x_train, y_train), (x_test, y_test), source = polykeras.load_mnist(DATA)
print(f"{source}: {len(x_train)} training and {len(x_test)} test images")

# Model: rescaling and training-only augmentation inside the model, so the saved file takes raw images.
keras.utils.set_random_seed(0)
model = polykeras.mnist_mlp(hidden=HIDDEN, dropout=DROPOUT, augment=True)
steps = EPOCHS * int(np.ceil(len(x_train) / BATCH_SIZE))
compile_mnist(model, LEARNING_RATE, total_steps=steps)  # Adam, cosine decay, label smoothing 0.1
model.summary()

# Train, logging the weights to TensorBoard.
logger = polykeras.TensorBoard(LOG_DIR, histogram_freq=5, image_freq=10)
model.fit(
    x_train,
    keras.utils.to_categorical(y_train, 10),
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    callbacks=[logger],
    verbose=2,
)

# Evaluate and save.
predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
print(f"test accuracy: {np.mean(predicted == y_test):.4f}")
model.save(SAVE_AS)
print(f"model: {SAVE_AS} (load with keras.saving.load_model(path, safe_mode=True))")
print(f"logs: {LOG_DIR}")
