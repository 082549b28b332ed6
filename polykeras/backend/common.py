"""Helpers the backends share."""

import numpy as np


def loss_tracker(model):
    """The compiled model's `loss` metric, which a custom `train_step` must update itself."""
    return next(metric for metric in model.metrics if metric.name == "loss")


def shuffled_batches(x, y, batch_size, seed):
    """`model.fit` arguments for endless batches of `(x, y)`: one pass is `ceil(n / batch_size)` steps.

    A generator, reshuffled every pass when batched: Keras casts NumPy arrays
    to `floatx` (float32) on JAX and PyTorch, and the polynomial needs float64
    inputs; a generator's batches reach the model as they are.
    """
    steps = -(-len(x) // batch_size)

    def batches():
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(x)) if steps > 1 else slice(None)
            xs, ys = x[order], y[order]
            for k in range(steps):
                yield xs[k * batch_size:(k + 1) * batch_size], ys[k * batch_size:(k + 1) * batch_size]

    return {"x": batches(), "steps_per_epoch": steps}
