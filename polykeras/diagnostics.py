"""What a trained classifier shows: its accuracy, and how alike its hidden units are (the zero-initialisation lesson).

Example:

>>> import numpy as np
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer="zeros", name="hidden_1"),
...                           keras.layers.Dense(2, activation="softmax")])
>>> model.compile(loss="sparse_categorical_crossentropy")
>>> report = symmetry_report(model, np.ones((8, 4), "float32"), np.zeros(8, "int64"))
>>> report[0]["units"], report[0]["distinct_units"]
(3, 1)
"""

import keras
import numpy as np

from polykeras import backend


def accuracy(model, images, labels, batch_size=1000):
    """The share of `images` whose most probable class is `labels`."""
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def symmetry_report(model, images, labels):
    """How alike the hidden units are: the zero-initialisation lesson, measured.

    For each hidden `Dense` layer: how many distinct units (kernel columns,
    with their biases) it has, and the norm of the loss's gradient with
    respect to its kernel on the given batch. With zero initialisation every
    unit is identical and no gradient reaches the hidden kernels, so the
    network cannot learn beyond the class frequencies.

    Returns:
        A list of dicts with `layer`, `units`, `distinct_units` and
        `kernel_gradient_norm`.
    """
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden_")]

    def loss(y_true, probabilities):
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y_true, probabilities))

    gradients = dict(
        zip(
            (v.path for v in model.trainable_variables),
            backend.gradient_function(model, images, labels, loss=loss, jit=False)(),
            strict=True,
        )
    )
    report = []
    for layer in hidden:
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        units = np.vstack([kernel, bias[None, :]]).T
        distinct = len(np.unique(np.round(units, 6), axis=0))
        norm = float(np.linalg.norm(gradients[layer.kernel.path]))
        report.append(
            {
                "layer": layer.name,
                "units": int(kernel.shape[1]),
                "distinct_units": distinct,
                "kernel_gradient_norm": norm,
            }
        )
    return report
