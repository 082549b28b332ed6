#!/usr/bin/env python
"""Watch a small convnet learn MNIST digits in TensorBoard: kernels, update ratios, dead units.

    python scripts/watch_a_convnet.py
    polykeras tensorboard --logdir logs/scripts/watch_a_convnet

The model is keras-io's "Simple MNIST convnet" (two Conv2D, MaxPooling2D,
Dense), trained on the 5,000-digit sample shipped in the package. The one
polykeras line is the callback: the same arguments as
`keras.callbacks.TensorBoard`, plus a fixed batch for gradients and
activations. Try LEARNING_RATE=0.05 to see dead units and large update
ratios.
"""

import os

import keras
import numpy as np

import polykeras

# Settings (the environment variables let CI run it small).
EPOCHS = int(os.environ.get("EPOCHS", 10))
LEARNING_RATE = float(os.environ.get("LEARNING_RATE", 1e-3))
BATCH_SIZE = 128
LOG_DIR = os.environ.get("LOG_DIR", "logs/scripts/watch_a_convnet")

# Data: the shipped sample, scaled to [0, 1], with a channel axis.
(x_train, y_train), (x_test, y_test), source = polykeras.load_mnist("sample")
x_train, x_test = (x[..., None].astype("float32") / 255 for x in (x_train, x_test))
print(f"{source}: {len(x_train)} training and {len(x_test)} test images")

# Model: keras-io's convnet.
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Conv2D(64, kernel_size=3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)

# Train, watched: the callback takes keras.callbacks.TensorBoard's arguments, and a fixed batch.
fixed = np.linspace(0, len(x_train) - 1, 128).astype(int)  # a spread of training digits, every class
watch = polykeras.TensorBoard(LOG_DIR, histogram_freq=1, image_freq=1, data=(x_train[fixed], y_train[fixed]))
model.fit(
    x_train,
    y_train,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_data=(x_test, y_test),
    callbacks=[watch],
    verbose=2,
)

# Evaluate on the sample's 1,000 held-out digits.
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {accuracy:.4f}")
print(f"logs: {LOG_DIR}  (polykeras tensorboard --logdir {LOG_DIR})")
