#!/usr/bin/env python
"""Fit the seed's polynomial with a Keras layer whose coefficients start at zero.

    python scripts/fit_polynomial.py
    polykeras tensorboard --logdir logs/scripts     # watch c0...c5 walk from 0

The TF1 seed program fitted y = 1 + 2x + 3x^2 + noise with `tf.Variable([0.] * 6)`
and `GradientDescentOptimizer(0.01)`. Here the same six coefficients are the one
trainable weight of `polykeras.Polynomial`, and `compile`/`fit` move them. The
result is compared with the float64 least-squares optimum.
"""

import os

import keras
import numpy as np

import polykeras

# Settings (the environment variables let CI run it small).
TRUE_COEFFICIENTS = [1.0, 2.0, 3.0]
SAMPLES = 100
NOISE = 0.1
DEGREE = 5  # six coefficients, as in the seed
LEARNING_RATE = 0.4  # on the orthonormalised Legendre basis the loss's Hessian is 2*I
EPOCHS = int(os.environ.get("EPOCHS", 20))
LOG_DIR = os.environ.get("LOG_DIR", "logs/scripts/fit_polynomial")

# Data: the seed's problem.
x, y = polykeras.synthetic_polynomial(TRUE_COEFFICIENTS, samples=SAMPLES, noise=NOISE, seed=0)

# Model: one Polynomial layer in float64, so it can be compared with float64 least squares.
layer = polykeras.Polynomial(DEGREE, basis="legendre", dtype="float64")
model = keras.Sequential([keras.Input(shape=(), dtype="float64"), layer])
layer.adapt(x)  # maps x onto [-1, 1] and orthonormalises the basis on the data
print("trainable:", [w.name for w in model.trainable_weights])
print("not trainable:", [w.name for w in model.non_trainable_weights])

# Train: the optimizer, not the initial value, moves the coefficients.
model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss=keras.losses.MeanSquaredError(dtype="float64"))
logger = polykeras.TensorBoard(LOG_DIR, data=(x, y))  # coefficients, curve and histograms per epoch
model.fit(x, y, batch_size=len(x), epochs=EPOCHS, callbacks=[logger], verbose=2)

# Compare with float64 least squares.
learned = layer.coefficients()  # power basis, lowest degree first
optimum = polykeras.least_squares(x, y, DEGREE).convert().coef
print(f"\n{'term':>5} {'start':>6} {'learned':>12} {'least squares':>14}")
for k, (a, b) in enumerate(zip(learned, optimum, strict=True)):
    print(f"{'x^' + str(k):>5} {0:>6} {a:>12.6f} {b:>14.6f}")
print(f"\nrelative gap: {np.linalg.norm(learned - optimum) / np.linalg.norm(optimum):.2e}")
print(f"logs: {LOG_DIR}")
