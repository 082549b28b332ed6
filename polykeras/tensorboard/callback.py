"""`TensorBoard`: Keras's TensorBoard callback for any model and backend, with panels that show weights learn.

It takes the arguments of `keras.callbacks.TensorBoard` that make sense
without TensorFlow and writes the same tags in the same `train/` and
`validation/` folders (`epoch_loss`, `epoch_learning_rate`, `batch_loss`,
`evaluation_loss_vs_iterations`, `<weight path>/histogram`, the `keras`
model graph), then adds the panels of `polykeras.tensorboard.panels`.

The epoch hooks only copy the numbers they need; building and writing the
summaries happens on a background thread (`writer.SummaryWriter`), during
training when epochs are long and at its end when they take milliseconds.
As with Keras's callback, the files are written and closed when `fit`
returns. The panels are given what they may look at (`panels.Watched`);
the fixed batch's gradients and activations are computed by `probe`.
"""

import copy
import os
import time
import warnings
import weakref

import keras

from polykeras import backend, summary
from polykeras.backend.common import GRADIENT_NORM
from polykeras.checks import check_int
from polykeras.errors import InvalidArgumentError
from polykeras.optimizers import inner_optimizer, schedule_of
from polykeras.saving import model_json
from polykeras.tensorboard.events import EventWriter, keras_model_summary, layout_summary, scalar_value
from polykeras.tensorboard.panels import BUILT_IN, Panel, Watched, layer_panels
from polykeras.tensorboard.probe import BatchProbe, Snapshot, fixed_batch, read
from polykeras.tensorboard.writer import SummaryWriter

# Epochs at least this long render their summaries alongside training; shorter
# ones (a polynomial's take milliseconds) leave it to the end, so that the
# writer thread does not compete with a Python-bound training loop.
LONG_EPOCH_SECONDS = 0.05
DEFAULT_PANELS = ("layers", "weights", "update_ratios", "activations", "first_layer")


class TensorBoard(keras.callbacks.Callback):
    """Logs metrics, weights, gradients, update ratios, dead units and first-layer pictures, for any model.

    A drop-in for `keras.callbacks.TensorBoard`: the same arguments mean the
    same, and the same tags are written, on TensorFlow, JAX and PyTorch, without
    importing TensorFlow. Named `TensorBoard`, with a `log_dir` attribute,
    so that KerasTuner sends each trial's logs to a folder of its own.
    Writers are created when training starts and closed when it ends, so
    the callback can be deep-copied (KerasTuner copies callbacks per trial);
    when `fit` returns, everything is on disk.

    Steps count epochs (passes over the data), and the state before the first
    update is logged at step 0, so every curve starts at the initial value.
    A model with a `steps_per_batch` attribute (`PolynomialRegression`)
    advances that many steps per Keras epoch. `batch_*` scalars count
    batches, and `evaluation_*_vs_iterations` optimizer steps, as in Keras.

    Args:
        log_dir: The run's folder; `train/` and `validation/` go inside.
        histogram_freq: Histograms, norms, update ratios and activations
            every this many epochs (and at the last epoch). 0 turns them off.
        write_graph: Whether to write the model's config for TensorBoard's
            graph view (Functional and Sequential models, as Keras does).
        write_images: Whether to draw every weight as an image
            (`<path>/image`, as Keras does) with the histograms.
        write_steps_per_second: Whether to log `epoch_steps_per_second`
            (and `batch_steps_per_second` with `update_freq`).
        update_freq: `"epoch"`, or `"batch"` or N to also log `batch_*`
            metrics every N batches.
        profile_batch, embeddings_freq, embeddings_metadata: Keras's
            profiler and projector need TensorFlow; only their "off"
            values (0, 0, None) are accepted.
        image_freq: First-layer pictures (and a layer panel's images) every
            this many epochs, at step 0 and at the last epoch. 0 turns them off.
        data: A fixed small batch, `(x, y)` in any structure the model takes,
            for the gradient norms and the activations; `y` in the form the
            compiled loss takes. Without it those are skipped, with one
            warning.
        data_samples: At most this many samples of `data`, evenly spaced.
        panels: Which panels to write: names among `"weights"`,
            `"update_ratios"`, `"activations"`, `"first_layer"` and
            `"layers"` (the panels registered for layer types, such as the
            polynomial's), and `Panel` instances. Scalars are always written.

    Example:

    >>> import tempfile
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((32, 4)), np.ones((32, 1))
    >>> callback = TensorBoard(tempfile.mkdtemp(), data=(x, y))
    >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    >>> sorted(os.listdir(callback.log_dir))
    ['train']
    """

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=1,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
        *,
        image_freq=5,
        data=None,
        data_samples=128,
        panels=DEFAULT_PANELS,
    ):
        super().__init__()
        for name, value in (
            ("histogram_freq", histogram_freq),
            ("image_freq", image_freq),
            ("data_samples", data_samples),
        ):
            check_int(value, name, at_least=0)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch":
            check_int(update_freq, "update_freq")
        for name, value, off in (
            ("profile_batch", profile_batch, 0),
            ("embeddings_freq", embeddings_freq, 0),
            ("embeddings_metadata", embeddings_metadata, None),
        ):
            if value != off and value not in ((0, 0), [0, 0]):
                raise InvalidArgumentError(
                    f"{name} is not supported by polykeras.TensorBoard (Keras's profiler and projector "
                    f"need TensorFlow); leave it at {off!r}. Received: {name}={value!r}"
                )
        for panel in panels:
            if not isinstance(panel, Panel) and panel not in (*BUILT_IN, "layers"):
                raise InvalidArgumentError(
                    f"panels takes Panel instances and the names {sorted([*BUILT_IN, 'layers'])}. "
                    f"Received: panels={panels!r}"
                )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self.image_freq = image_freq
        self.data = data
        self.data_samples = data_samples
        self.panels = tuple(panels)
        if update_freq != "epoch":
            # Only then: a callback with batch hooks makes Keras call them synchronously, every step.
            self.on_train_batch_begin = self._on_train_batch_begin
            self.on_train_batch_end = self._on_train_batch_end
        self._summaries = None
        self._native = None  # TensorFlow's own summary writers, while fit runs
        self._taken = {}  # polykeras.summary's means, by part, taken at each part's end
        self._active = []
        self.batch = None
        self.probe = None

    # The run's summaries: a `SummaryWriter` builds and writes what the hooks queue ------------

    def _write(self, values, step, writer="train"):
        self._summaries.put(values, step, writer)

    def wait(self):
        """Writes what was logged, closes the files and returns then: what `fit`'s end does.

        Call it after a `fit` that raised, to keep the logs of the epochs before.
        """
        if self._summaries is not None:
            self._summaries.close()
        if self._native is not None:
            self._native.close()
            self._native = None

    def on_train_begin(self, logs=None):
        self.wait()  # a previous fit that raised before on_train_end left its writers open
        self._summaries = SummaryWriter(self.log_dir)
        self.batch = None if self.data is None else fixed_batch(self.data, self.data_samples)
        self._global_batch = 0
        self._started = False
        summary.take()  # what was added before this fit is not this fit's
        self._taken = {}
        if getattr(self.model, "optimizer", None) is not None:
            every = None if self.update_freq == "epoch" else self.update_freq
            self._native = backend.native_summaries(self.log_dir, self.model.optimizer.iterations, every)
            if self._native is not None:
                self._native.use("train")

    def _start_panels(self, initial_epoch):
        """The panels that apply to this model, started; one warning for those that need `data`."""
        chosen = []
        for panel in self.panels:
            if panel == "layers":
                chosen += layer_panels(self.model)
            else:
                chosen.append(BUILT_IN[panel]() if isinstance(panel, str) else copy.copy(panel))
        skipped = (
            []
            if self.batch is not None or not self.histogram_freq
            else [s for p in chosen if (s := p.without_data(self.model))]
        )
        if skipped:
            warnings.warn(
                f"polykeras.TensorBoard: without data=(x, y) these are not logged: {', '.join(skipped)}", stacklevel=2
            )
        gradients = any(p.uses_gradients for p in chosen) and not getattr(self.model, "reports_gradient_norms", False)
        activations = any(p.uses_activations for p in chosen)
        self.probe = None
        if self.batch is not None and (gradients or activations):
            self.probe = BatchProbe(self.model, self.batch, gradients, activations)
        watched = Watched(
            model=self.model,
            log_dir=self.log_dir,
            data=self.data,
            batch=self.batch,
            probe=self.probe,
            write_images=self.write_images,
        )
        return [p for p in chosen if p.start(watched, initial_epoch)]

    def on_train_end(self, logs=None):
        self.wait()

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if isinstance(value, keras.Model) or name in (
                "_summaries",
                "_native",
                "_active",
                "batch",
                "probe",
                "on_train_batch_begin",
                "on_train_batch_end",
            ):
                value = None if name != "_active" else []  # the model Keras set, and this fit's state
            setattr(clone, name, copy.deepcopy(value, memo))
        if clone.update_freq != "epoch":
            clone.on_train_batch_begin = clone._on_train_batch_begin
            clone.on_train_batch_end = clone._on_train_batch_end
        return clone

    # Logging: the hooks copy numbers; the thread builds the summaries --------

    def _step(self, epoch):
        return epoch * getattr(self.model, "steps_per_batch", 1)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        if self.write_steps_per_second:
            self._epoch_iterations = _iterations(self.model)
        if self._started:
            return
        self._started = True
        self._active = self._start_panels(epoch)
        if epoch > 0:  # a backup resumed the run: step 0 is written already
            return
        values = []
        charts = [chart for panel in self._active for chart in panel.charts()]
        if charts:
            values.append(layout_summary(charts))
        if self.write_graph and type(self.model).__name__ in ("Functional", "Sequential"):
            try:
                values.append(keras_model_summary(model_json(self.model)))
            except Exception as e:  # as Keras: a model that does not serialise is not drawn
                warnings.warn(f"polykeras.TensorBoard: the model's graph is not written: {e}", stacklevel=2)
        self._write(values + self._panel_values({}, 0, self.histogram_freq > 0, self.image_freq > 0, True), 0)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done = epoch + 1
        last = done == self.params.get("epochs")
        train, validation = [], []
        for name, value in logs.items():
            if name.startswith(GRADIENT_NORM):
                continue  # a model's own report: the weights panel writes it per layer
            if name.startswith("val_"):
                validation.append((f"epoch_{name[4:]}", float(value)))
            else:
                train.append((f"epoch_{name}", float(value)))
        for name, rate in learning_rates(self.model):
            train.append((f"epoch_{name}", rate))
        if self.write_steps_per_second:
            seconds = time.perf_counter() - self._epoch_start
            train.append(("epoch_steps_per_second", (_iterations(self.model) - self._epoch_iterations) / seconds))
        taken = self._taken if self._taken else {"train": summary.take()}
        self._taken = {}
        train += list(taken.get("train", {}).items())
        validation += list(taken.get("validation", {}).items())
        histograms = self.histogram_freq > 0 and (done % self.histogram_freq == 0 or last)
        images = self.image_freq > 0 and (done % self.image_freq == 0 or last)
        step = self._step(done)
        self._write(train + self._panel_values(logs, step, histograms, images, False), step)
        self._write(validation, step, "validation")
        # The first epoch also traces the training graph, so it does not decide.
        if epoch > 0 and time.perf_counter() - self._epoch_start >= LONG_EPOCH_SECONDS:
            self._summaries.start()

    def _panel_values(self, logs, step, histograms, images, initial):
        snapshot = Snapshot(self.model, step, logs, histograms, images, initial, self.probe)
        return [value for panel in self._active for value in panel.log(snapshot)]

    def _on_train_batch_begin(self, batch, logs=None):
        self._global_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.perf_counter()

    def _on_train_batch_end(self, batch, logs=None):
        if self._global_batch % self.update_freq or not isinstance(logs, dict):
            return
        values = [(f"batch_{name}", float(value)) for name, value in logs.items() if not name.startswith(GRADIENT_NORM)]
        if self.write_steps_per_second:
            values.append(("batch_steps_per_second", 1.0 / (time.perf_counter() - self._batch_start)))
        self._write(values, self._global_batch)

    def on_test_begin(self, logs=None):
        """Validation begins: what the model's summaries added since the epoch began was training's."""
        if self._native is not None:
            self._native.use("validation")
        if self._summaries is not None and not self._summaries.closed:
            self._taken["train"] = summary.take()

    def on_test_end(self, logs=None):
        """`evaluation_<metric>_vs_iterations` in `validation/`, at the optimizer's step count, as Keras writes it."""
        if self._native is not None:
            self._native.use("train")
        if self._summaries is not None and not self._summaries.closed:
            self._taken["validation"] = summary.take()
        if not logs or getattr(self.model, "optimizer", None) is None:
            return
        values = [scalar_value(f"evaluation_{name}_vs_iterations", float(value)) for name, value in logs.items()]
        step = _iterations(self.model)
        if self._summaries is not None and not self._summaries.closed:
            self._write(values, step, "validation")
        else:  # model.evaluate outside fit
            with EventWriter(os.path.join(self.log_dir, "validation")) as writer:
                writer.write(values, step)


def learning_rates(model):
    """`[("learning_rate", rate)]` as Keras logs it: one per optimizer inside a wrapper or a multi-optimizer."""
    optimizer = inner_optimizer(getattr(model, "optimizer", None))
    if hasattr(optimizer, "optimizers"):
        return [(f"learning_rate_{o.name}", current_learning_rate(o)) for o in optimizer.optimizers]
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return [("learning_rate", current_learning_rate(optimizer))]
    return []


_SCHEDULES = weakref.WeakKeyDictionary()  # optimizer -> its schedule, compiled


def current_learning_rate(optimizer):
    """`optimizer.learning_rate` as a float; a schedule is evaluated by one compiled function, not op by op.

    Keras evaluates a schedule eagerly, one op at a time: several
    milliseconds an epoch, and on JAX a compilation per op on first use
    (about 0.2 s of a short run).
    """
    schedule = schedule_of(optimizer)
    if schedule is None:
        return _float(optimizer.learning_rate)
    compiled = _SCHEDULES.get(optimizer)
    if compiled is None or compiled[0] is not schedule:
        compiled = _SCHEDULES[optimizer] = (schedule, backend.jit(schedule))
    return float(keras.ops.convert_to_numpy(compiled[1](keras.ops.convert_to_tensor(_iterations_of(optimizer)))))


def _float(value):
    """A variable's or tensor's value as a float (a variable read the fast way: see `probe.read`)."""
    return float(read(value) if isinstance(value, keras.Variable) else keras.ops.convert_to_numpy(value))


def _iterations_of(optimizer):
    return read(optimizer.iterations)


def _iterations(model):
    optimizer = getattr(model, "optimizer", None)
    return int(_iterations_of(optimizer)) if optimizer is not None else 0
