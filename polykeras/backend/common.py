"""What the backends share: the contract of a model that reports its own gradient norms, and batches of arrays."""

import threading

import numpy as np

# A model may report the norms of its gradients in its logs, under this prefix and a variable's path, as the
# polynomial's training step does; the TensorBoard callback writes them per layer, not as metrics.
GRADIENT_NORM = "gradient_norm/"


def gradient_norm_name(variable):
    """The logs' name for the gradient norm a model reports for `variable`."""
    return f"{GRADIENT_NORM}{variable.path}"


def reported_gradient_norms(logs):
    """`{variable path: norm}` of the gradient norms a model reported in `logs`."""
    return {name[len(GRADIENT_NORM) :]: float(v) for name, v in logs.items() if name.startswith(GRADIENT_NORM)}


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
                yield xs[k * batch_size : (k + 1) * batch_size], ys[k * batch_size : (k + 1) * batch_size]

    return {"x": batches(), "steps_per_epoch": steps}


class HostSums:
    """Sums of scalars added on the host (PyTorch's values, JAX's through a host callback), with their counts.

    A value may stay a tensor until it is taken, so that adding one does not
    wait for the device.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._sums, self._counts = {}, {}

    def add(self, name, value):
        with self._lock:
            self._sums[name] = self._sums.get(name, 0.0) + value
            self._counts[name] = self._counts.get(name, 0) + 1

    def take(self):
        """`{name: mean}` of what was added, and a fresh start."""
        with self._lock:
            sums, counts, self._sums, self._counts = self._sums, self._counts, {}, {}
        return {name: float(sums[name]) / counts[name] for name in sums}
