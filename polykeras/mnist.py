"""The MNIST multilayer perceptron and its training recipe.

`train_mnist` is the library form of `polykeras train-mnist`: the MLP
(`mnist_mlp`) trained with `compile`/`fit`, guarded against a NaN loss and a
collapse (every ReLU dead; `polykeras.guards`), and resumable with
`polykeras.backup.Backup`. `polykeras.diagnostics.symmetry_report` measures
why zero initialisation fails here.

Example:

>>> model = mnist_mlp(hidden=(128,))
>>> [layer.name for layer in model.layers if layer.trainable_weights]
['hidden_1', 'digits']
"""

import dataclasses
import hashlib
import math
import time

import keras
import numpy as np

from polykeras import backend
from polykeras.augment import Deskew, RandomAffine
from polykeras.backup import Backup
from polykeras.checks import check_int, check_learning_rate, check_number
from polykeras.diagnostics import accuracy, symmetry_report
from polykeras.errors import InvalidArgumentError, LossBecameNaN
from polykeras.guards import StopOnNaN, check_not_collapsed
from polykeras.optimizers import make_optimizer
from polykeras.runs import TrainingRun
from polykeras.tensorboard import TensorBoard

# The recipe, chosen on 800 digits held out of the sample's 4,000 training
# digits (benchmarks/mnist_recipe_search.py) among those that train in under
# a minute on two CPU cores.
MNIST_HIDDEN = (512, 512)
MNIST_EPOCHS = 90
MNIST_BATCH_SIZE = 128
MNIST_DROPOUT = 0.1
MNIST_ELASTIC = 1.5
# Training steps per compiled call, by backend: 8 where grouping steps shortens an epoch (TensorFlow), 1 where it
# does not (JAX; measured by benchmarks/augmentation_cost.py, docs/benchmarks.md) or cannot (Keras's PyTorch
# trainer runs one step per call).
STEPS_PER_EXECUTION = {"tensorflow": 8, "jax": 1, "torch": 1}
MNIST_LABEL_SMOOTHING = 0.1
# Training images on which the hidden units are compared after training.
SYMMETRY_SAMPLES = 1000


def mnist_mlp(
    hidden=MNIST_HIDDEN,
    dropout=MNIST_DROPOUT,
    kernel_initializer="glorot_uniform",
    augment=True,
    deskew=True,
    elastic=MNIST_ELASTIC,
    name="mnist_mlp",
):
    """A multilayer perceptron for 28x28 digits that takes raw uint8 images.

    Rescaling to [0, 1] happens inside the model, so a saved model accepts
    raw images. Each digit is deskewed (in training and inference alike),
    and the augmentation (small shifts, rotations, zooms and elastic
    distortions) is active only in training.

    Args:
        hidden: Units of each hidden `Dense` layer.
        dropout: Dropout rate after each hidden layer (0 for none).
        kernel_initializer: Any Keras initializer name for every `Dense`
            kernel; `"zeros"` shows why networks need random initialisation.
        augment: Whether to add the training-only augmentation layers.
        deskew: Whether to straighten every digit first (`Deskew`), in
            training and inference.
        elastic: Largest elastic displacement in pixels (`RandomAffine`),
            0 for none; only with `augment`.
        name: The model's name.

    Returns:
        An uncompiled `keras.Model` mapping `(batch, 28, 28)` uint8 images
        to 10 class probabilities.

    Example:

    >>> model = mnist_mlp(hidden=(32,), augment=False)
    >>> model.output_shape
    (None, 10)
    """
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in hidden):
        raise InvalidArgumentError(f"hidden must be positive integers such as 512,512. Received: hidden={hidden!r}")
    check_number(dropout, "dropout", at_least=0, below=1)
    try:
        keras.initializers.get(kernel_initializer)
    except ValueError:
        raise InvalidArgumentError(f"unknown Keras initializer. Received: init={kernel_initializer!r}") from None
    layers = keras.layers
    inputs = keras.Input(shape=(28, 28), dtype="uint8", name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if deskew:
        x = Deskew(name="deskew")(x)
    if augment:
        x = RandomAffine(rotation=0.03, zoom=0.08, translation=0.08, elastic=elastic, name="distort")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", kernel_initializer=kernel_initializer, name=f"hidden_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(10, activation="softmax", kernel_initializer=kernel_initializer, name="digits")(x)
    return keras.Model(inputs, outputs, name=name)


def mnist_logger(log_dir, x_train, y_train, samples=256):
    """`train-mnist`'s callback: metrics every epoch; weights, gradients and activations every 5th; pictures every 10th.

    Gradients and activations are taken on a fixed spread of training images (one-hot labels, as the loss takes them).
    """
    pick = np.linspace(0, len(x_train) - 1, samples).astype(int)
    return TensorBoard(
        log_dir, histogram_freq=5, image_freq=10, data=(x_train[pick], keras.utils.to_categorical(y_train[pick], 10))
    )


@dataclasses.dataclass
class MnistTraining:
    """What `train_mnist` produced."""

    model: keras.Model
    test_accuracy: float
    train_seconds: float
    samples_per_second: float
    epochs: int
    history: dict
    hidden_units: list  # `symmetry_report` on the first training images
    log_dir: str = None  # the TensorBoard run folder, when logged

    def as_json(self):
        return {
            "test_accuracy": self.test_accuracy,
            "train_seconds": self.train_seconds,
            "samples_per_second": self.samples_per_second,
            "epochs": self.epochs,
            "hidden_units": self.hidden_units,
            "log_dir": self.log_dir,
        }


def compile_mnist(
    model, learning_rate, total_steps, optimizer="adam", label_smoothing=MNIST_LABEL_SMOOTHING, steps_per_execution=1
):
    """The recipe's compile: a cosine-decaying learning rate, cross-entropy on one-hot labels, smoothed."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(total_steps, 1))
    model.compile(
        optimizer=make_optimizer(optimizer, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def one_step_per_call(model):
    """Compiles the trained model again as it was, with its optimizer and its state, for one step per call.

    `steps_per_execution` is a training speed-up of the backend it trained
    on, and it is saved with the model: Keras's PyTorch trainer refuses to
    predict with anything but 1, so a model saved with 8 would not load and
    predict on every backend.
    """
    if model.steps_per_execution != 1:
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], steps_per_execution=1)


def train_mnist(
    data,
    epochs=MNIST_EPOCHS,
    batch_size=MNIST_BATCH_SIZE,
    learning_rate=1e-3,
    hidden=MNIST_HIDDEN,
    dropout=MNIST_DROPOUT,
    augment=True,
    deskew=True,
    elastic=MNIST_ELASTIC,
    init="glorot_uniform",
    callbacks=(),
    runs_dir=None,
    log=True,
    verbose=0,
    seed=0,
    steps_per_execution=None,
):
    """Trains `mnist_mlp` with `compile`/`fit` and measures it on the test part.

    Args:
        data: `((x_train, y_train), (x_test, y_test))` as from `load_mnist`.
        epochs: Passes over the training images.
        batch_size: Images per step.
        learning_rate: Adam's initial rate, decayed to 0 along a cosine.
        hidden: Units of each hidden layer.
        dropout: Dropout after each hidden layer.
        augment: Whether to train with random shifts, rotations and zooms.
        deskew: Whether the model straightens each digit first.
        elastic: Largest elastic displacement in pixels, 0 for none.
        init: Keras initializer name for the `Dense` kernels.
        callbacks: More Keras callbacks.
        runs_dir: If set (such as `"logs/train-mnist"`), the run is
            resumable and logged: TensorBoard logs go to a new run folder
            there (unless `log` is False), and `Backup` keeps a recent
            finished epoch (backing up costs about 2 % of the training
            time), so the same call after a crash (even a SIGKILL)
            continues from the last backup in the same run folder. A second live
            process with the same settings raises `RunInProgress`.
        log: Whether a run in `runs_dir` writes TensorBoard logs.
        verbose: Keras's `fit` verbosity.
        seed: Seed of Keras's initializers, dropout, augmentation and shuffling.
        steps_per_execution: Training steps per compiled call (Keras's
            `compile` argument); default `STEPS_PER_EXECUTION`'s for the
            backend: 8 on TensorFlow, where it saves 20 % of an epoch on
            2 CPU cores, 1 on JAX, where it saved nothing, and 1 on PyTorch,
            whose Keras trainer takes no other. Epoch-level
            callbacks (the TensorBoard logs, `Backup`, the NaN guard) see
            the same epochs; batch-level ones are called once per execution.
            The model returned is compiled for one step per call, so that
            saved, it predicts on every backend (`one_step_per_call`).

    Returns:
        A `MnistTraining`.

    Raises:
        InvalidArgumentError: for a bad argument, before anything is written.
        LossBecameNaN: when an epoch ends with a NaN loss; its `model` holds
            the last good weights.
        TrainingCollapsed: when training ends with no gradient reaching any
            hidden kernel although `init` was not `"zeros"` (every ReLU
            dead, as after a far too large learning rate).
        RunInProgress: when another process trains the same run in `runs_dir`.

    Example:

    >>> from polykeras.data import load_mnist
    >>> *data, _ = load_mnist("sample")
    >>> result = train_mnist(data, epochs=1, hidden=(32,), augment=False)
    >>> 0.5 < result.test_accuracy <= 1.0
    True
    """
    if steps_per_execution is None:
        steps_per_execution = STEPS_PER_EXECUTION[backend.name()]
    for value, name in ((epochs, "epochs"), (batch_size, "batch_size"), (steps_per_execution, "steps_per_execution")):
        check_int(value, name)
    check_learning_rate(learning_rate)
    (x_train, y_train), (x_test, y_test) = data
    backend.set_random_seed(seed)
    model = mnist_mlp(
        hidden, dropout, kernel_initializer=init, augment=augment, deskew=deskew, elastic=elastic
    )  # validates the architecture
    compile_mnist(
        model, learning_rate, epochs * math.ceil(len(x_train) / batch_size), steps_per_execution=steps_per_execution
    )
    guard = StopOnNaN()
    extra = [guard, *callbacks]
    run = None
    if runs_dir is not None:
        settings = [
            _fingerprint(data),
            epochs,
            batch_size,
            learning_rate,
            list(hidden),
            dropout,
            augment,
            init,
            seed,
            deskew,
            elastic,
        ]
        run = TrainingRun.open(runs_dir, f"mlp-{'x'.join(map(str, hidden))}-{init}", settings, log=log)
        if run.log_dir:
            extra.append(mnist_logger(run.log_dir, x_train, y_train))
        extra.append(Backup(run.backup_dir))
    one_hot = keras.utils.to_categorical(y_train, 10)
    start = time.perf_counter()
    try:
        history = model.fit(x_train, one_hot, batch_size=batch_size, epochs=epochs, callbacks=extra, verbose=verbose)
    finally:
        if run is not None:
            run.close()
        for callback in extra:
            if hasattr(callback, "wait"):
                callback.wait()  # a fit that raised keeps the logs (and backup) of the epochs before
    train_seconds = time.perf_counter() - start
    one_step_per_call(model)
    if guard.nan_epoch is not None:
        raise LossBecameNaN(guard.nan_epoch, model)
    hidden_units = symmetry_report(model, x_train[:SYMMETRY_SAMPLES], y_train[:SYMMETRY_SAMPLES])
    check_not_collapsed(model, hidden_units, init)
    done = len(history.history.get("loss", []))
    return MnistTraining(
        model=model,
        test_accuracy=accuracy(model, x_test, y_test),
        train_seconds=train_seconds,
        samples_per_second=done * len(x_train) / train_seconds,
        epochs=epochs,
        history=history.history,
        hidden_units=hidden_units,
        log_dir=run.log_dir if run else None,
    )


def _fingerprint(data):
    """A short digest of the images and labels: the same data, the same run."""
    digest = hashlib.sha256()
    for array in (a for pair in data for a in pair):
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:12]
