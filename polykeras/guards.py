"""Guards of a training run: a loss that turns NaN, and a network whose hidden units all died.

- `StopOnNaN`: a Keras callback that, at an epoch's end with a loss that is
  not finite, puts back the weights of the last good epoch and stops
  training (Keras's `TerminateOnNaN` stops, keeping the broken weights).
- `check_not_collapsed`: raises `TrainingCollapsed` when no gradient reaches
  any hidden kernel of a network that did not start from zeros.

Example:

>>> import numpy as np
>>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
>>> guard = StopOnNaN()
>>> _ = model.fit(np.ones((4, 1)), np.ones((4, 1)) * 1e20, epochs=5, verbose=0, callbacks=[guard])
>>> guard.nan_epoch, bool(np.isfinite(model.get_weights()[0]).all())
(1, True)
"""

import math

import keras

from polykeras.errors import TrainingCollapsed


class StopOnNaN(keras.callbacks.Callback):
    """At each epoch's end, keeps the weights if the loss is finite, else restores them and stops.

    The first good weights are those training starts from (taken at the first
    epoch's start, after `Backup` has restored a resumed run), so a
    run that diverges in its first epoch ends with finite weights too.
    """

    def __init__(self):
        super().__init__()
        self.nan_epoch = None
        self._good = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._good is None:
            self._good = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        if math.isfinite((logs or {}).get("loss", 0.0)):
            self._good = self.model.get_weights()
            return
        self.nan_epoch = epoch + 1
        self.model.set_weights(self._good)
        self.model.stop_training = True


def check_not_collapsed(model, report, init):
    """Raises `TrainingCollapsed` when no gradient reaches any hidden kernel, unless `init` started it from zeros.

    Args:
        model: The trained model.
        report: `polykeras.diagnostics.symmetry_report` of it.
        init: The kernels' initializer (a name or a Keras initializer).
    """
    zeros = isinstance(keras.initializers.get(init), keras.initializers.Zeros)
    if not zeros and all(r["kernel_gradient_norm"] == 0 for r in report):
        raise TrainingCollapsed(model)
