"""Models and their training recipes: the polynomial fit and the MNIST MLP.

`fit_polynomial` is the library form of `polykeras fit-poly`: it builds a model
around `Polynomial`, compiles it and trains it with `fit`, then compares what
the optimizer learned with the float64 least-squares optimum.
"""

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from polykeras.data import check_xy
from polykeras.errors import InvalidArgumentError, LossBecameNaN, TrainingCollapsed
from polykeras.layers import Polynomial, check_basis, check_degree, check_distinct, pad_coefficients

# With the basis orthonormal on the data the loss's Hessian is 2 * I, so SGD at
# 0.4 shrinks the error fivefold every epoch (0.5 is the exact Newton step).
ORTHONORMAL_LEARNING_RATE = 0.4
# The seed program's rate, for the raw monomial basis.
MONOMIAL_LEARNING_RATE = 0.01
DEFAULT_EPOCHS = 20
# Keras spends ~2 ms of Python per epoch; longer full-batch runs are grouped
# so that `fit` sees at most this many Keras epochs, each running several
# descent steps inside one graph call (`PolynomialRegression.steps_per_batch`).
MAX_KERAS_EPOCHS = 50


@keras.saving.register_keras_serializable(package="polykeras")
class PolynomialRegression(keras.Model):
    """A model `x -> polynomial(x)` around one `Polynomial` layer, trained with `fit`.

    Its one extra over `keras.Model` serves full-batch gradient descent: when
    every batch is the whole data set, `steps_per_batch` descent steps can run
    on it inside one graph call, so a thousand-epoch run (the seed program's)
    does not pay Keras's per-epoch Python overhead a thousand times.

    Args:
        degree: The polynomial's degree (0 to 20).
        basis: `"legendre"`, `"chebyshev"` or `"monomial"`.
        orthonormalize: See `Polynomial`.
        steps_per_batch: Optimizer steps taken on each batch (default 1, the
            usual `fit`). Only meaningful when a batch holds all the data.
        dtype: The layer's dtype. float64 by default, so that the learned
            coefficients can be compared with float64 least squares even when
            x spans [0, 1000] and y reaches 1e7.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> model = PolynomialRegression(degree=2)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> [w.name for w in model.trainable_weights]
    ['coefficients']
    """

    # Its train_step puts the gradient norm in the logs (see polykeras.callbacks.TensorBoard).
    reports_gradient_norms = True

    def __init__(self, degree, basis="legendre", orthonormalize=None, steps_per_batch=1, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        check_positive_int(steps_per_batch, "steps_per_batch")
        self.steps_per_batch = int(steps_per_batch)
        self.polynomial = Polynomial(degree, basis=basis, orthonormalize=orthonormalize, dtype=dtype, name="polynomial")
        self.polynomial.build((None,))
        self.built = True

    def call(self, inputs):
        return self.polynomial(inputs)

    def adapt(self, x):
        """Sets the layer's domain (and orthonormal basis) from `x`; see `Polynomial.adapt`."""
        self.polynomial.adapt(x)

    def train_step(self, data):
        """`steps_per_batch` descent steps on the batch; logs the loss and the gradient norm."""
        x, y = data[:2]
        variable = self.polynomial.basis_coefficients

        def descend():
            with tf.GradientTape() as tape:
                loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            for metric in self.metrics:  # compute_loss leaves the loss tracker to the caller
                if metric.name == "loss":
                    metric.update_state(loss)
            return tf.norm(gradients[0])

        if self.steps_per_batch == 1:
            norm = descend()
        else:
            _, norm = tf.while_loop(
                lambda step, _: step < self.steps_per_batch,
                lambda step, _: (step + 1, descend()),
                (tf.constant(0), tf.zeros((), variable.dtype)),
            )
        # The gradient norm rides along in the logs, where the TensorBoard callback finds it.
        return {**self.get_metrics_result(), f"gradient_norm/{variable.path}": norm}

    def get_config(self):
        layer = self.polynomial
        return {
            **super().get_config(),
            "degree": layer.degree,
            "basis": layer.basis,
            "orthonormalize": layer.orthonormalize,
            "steps_per_batch": self.steps_per_batch,
        }


def least_squares(x, y, degree):
    """The float64 least-squares polynomial (numpy.polynomial), the reference optimum.

    Returns:
        `numpy.polynomial.Polynomial` fitted with a domain mapping.
    """
    return np.polynomial.Polynomial.fit(x, y, degree)


def least_squares_coefficients(x, y, degree):
    """The least-squares optimum's power-basis coefficients, lowest degree first, float64."""
    return pad_coefficients(least_squares(x, y, degree).convert().coef, degree)


def check_learning_rate(learning_rate):
    """Raises `ValueError` unless `learning_rate` is a finite number > 0 (or a Keras schedule)."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return
    if isinstance(learning_rate, bool) or not (
        isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0
    ):
        raise InvalidArgumentError(f"learning_rate must be a number > 0. Received: learning_rate={learning_rate!r}")


def make_optimizer(name, learning_rate):
    """Any Keras optimizer by name (`"sgd"`, `"adam"`, ...) with a learning rate or schedule.

    Raises:
        ValueError: for an unknown name or a learning rate that is not > 0.
    """
    check_learning_rate(learning_rate)
    try:
        optimizer = keras.optimizers.get(name)
    except ValueError:
        raise InvalidArgumentError(f"unknown Keras optimizer. Received: optimizer={name!r}") from None
    return type(optimizer)(learning_rate=learning_rate)


def default_learning_rate(basis, orthonormalize=None):
    """The default rate: 0.4 on an orthonormalised basis, the seed's 0.01 on raw monomials."""
    orthonormal = basis != "monomial" if orthonormalize is None else orthonormalize
    return ORTHONORMAL_LEARNING_RATE if orthonormal else MONOMIAL_LEARNING_RATE


def epoch_grouping(epochs, max_keras_epochs=MAX_KERAS_EPOCHS):
    """How many passes over the data each Keras epoch runs.

    Returns the smallest divisor of `epochs` that keeps `fit` at no more
    than `max_keras_epochs` Keras epochs (1 for short runs).
    """
    least = math.ceil(epochs / max_keras_epochs)
    return next(k for k in range(least, epochs + 1) if epochs % k == 0)


@dataclasses.dataclass
class PolynomialFit:
    """What `fit_polynomial` learned, beside the least-squares optimum."""

    model: keras.Model
    coefficients: np.ndarray
    least_squares_coefficients: np.ndarray
    relative_coefficient_gap: float
    mse: float
    least_squares_mse: float
    relative_mse_gap: float
    epochs: int
    passes_per_keras_epoch: int
    train_seconds: float
    history: dict

    def as_json(self):
        """The JSON-ready summary written by `fit-poly --json`."""
        return {
            "coefficients": self.coefficients.tolist(),
            "least_squares_coefficients": self.least_squares_coefficients.tolist(),
            "relative_coefficient_gap": self.relative_coefficient_gap,
            "mse": self.mse,
            "least_squares_mse": self.least_squares_mse,
            "relative_mse_gap": self.relative_mse_gap,
            "epochs": self.epochs,
            "train_seconds": self.train_seconds,
        }


def check_positive_int(value, name):
    """Raises `ValueError` unless `value` is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidArgumentError(f"{name} must be an integer > 0. Received: {name}={value!r}")


def _dataset(x, y, batch_size, seed):
    """An endless tf.data stream of batches; one pass is `ceil(n / batch_size)` steps."""
    if batch_size >= len(x):
        return tf.data.Dataset.from_tensors((x, y)).repeat()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    return ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size).repeat()


def check_polynomial_fit_args(x, y, degree, basis, optimizer, learning_rate, epochs, batch_size):
    """Validates everything `fit_polynomial` takes, before any training or writing."""
    check_degree(degree)
    check_basis(basis)
    x, y = check_xy(x, y)
    check_distinct(x, degree)
    check_positive_int(epochs, "epochs")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    optimizer = make_optimizer(optimizer, learning_rate)
    return x, y, optimizer


def fit_polynomial(
    x,
    y,
    degree=2,
    basis="legendre",
    orthonormalize=None,
    optimizer="sgd",
    learning_rate=None,
    epochs=DEFAULT_EPOCHS,
    batch_size=None,
    callbacks=(),
    verbose=0,
    seed=0,
):
    """Learns a polynomial from zero-initialised coefficients with `compile`/`fit`.

    Args:
        x: Inputs, shape `(n,)`.
        y: Targets, shape `(n,)`.
        degree: The polynomial's degree (0 to 20).
        basis: `"legendre"` (default), `"chebyshev"` or `"monomial"`.
        orthonormalize: See `Polynomial`.
        optimizer: Name of a Keras optimizer.
        learning_rate: Defaults to 0.4 on an orthonormalised basis and to
            0.01 (the seed program's) on the raw monomial basis.
        epochs: Passes over the data; with the default batch (all the data)
            one pass is one optimizer step.
        batch_size: Points per step; defaults to the whole data set.
        callbacks: Keras callbacks for `fit`.
        verbose: Keras's `fit` verbosity.
        seed: Seed for Keras and the shuffling of mini-batches.

    Returns:
        A `PolynomialFit`.

    Example:

    >>> x = np.linspace(-1, 1, 100)
    >>> result = fit_polynomial(x, 1 + 2 * x + 3 * x**2)
    >>> np.round(result.coefficients, 6).tolist()
    [1.0, 2.0, 3.0]
    """
    if learning_rate is None:
        learning_rate = default_learning_rate(basis, orthonormalize)
    x, y, optimizer = check_polynomial_fit_args(x, y, degree, basis, optimizer, learning_rate, epochs, batch_size)
    keras.utils.set_random_seed(seed)
    batch_size = len(x) if batch_size is None else min(batch_size, len(x))
    steps_per_pass = math.ceil(len(x) / batch_size)
    passes = epoch_grouping(epochs) if steps_per_pass == 1 else 1

    model = PolynomialRegression(degree, basis=basis, orthonormalize=orthonormalize, steps_per_batch=passes)
    model.adapt(x)
    layer = model.polynomial
    model.compile(
        optimizer=optimizer,
        # Keras losses compute in floatx (float32) unless told otherwise.
        loss=keras.losses.MeanSquaredError(dtype=layer.compute_dtype),
        steps_per_execution=steps_per_pass,
    )
    start = time.perf_counter()
    history = model.fit(
        _dataset(x, y, batch_size, seed),
        epochs=epochs // passes,
        steps_per_epoch=steps_per_pass,
        callbacks=list(callbacks),
        verbose=verbose,
        shuffle=False,  # the dataset shuffles mini-batches itself
    )
    train_seconds = time.perf_counter() - start

    reference = least_squares(x, y, degree)
    lstsq = pad_coefficients(reference.convert().coef, degree)
    learned = layer.coefficients()
    mse = float(np.mean((layer.polynomial()(x) - y) ** 2))
    lstsq_mse = float(np.mean((reference(x) - y) ** 2))
    return PolynomialFit(
        model=model,
        coefficients=learned,
        least_squares_coefficients=lstsq,
        relative_coefficient_gap=relative_gap(learned, lstsq),
        mse=mse,
        least_squares_mse=lstsq_mse,
        relative_mse_gap=(mse - lstsq_mse) / lstsq_mse if lstsq_mse > 0 else (0.0 if mse == 0 else math.inf),
        epochs=epochs,
        passes_per_keras_epoch=passes,
        train_seconds=train_seconds,
        history=history.history,
    )


def relative_gap(learned, reference):
    """`||learned - reference|| / ||reference||` (the norm of the difference if the reference is 0)."""
    diff = float(np.linalg.norm(np.asarray(learned) - np.asarray(reference)))
    norm = float(np.linalg.norm(reference))
    return diff / norm if norm > 0 else diff


# ----------------------------------------------------------------------------
# MNIST MLP

MNIST_HIDDEN = (512, 512)
MNIST_EPOCHS = 60
MNIST_BATCH_SIZE = 64
MNIST_LABEL_SMOOTHING = 0.1
# Training images on which the hidden units are compared after training.
SYMMETRY_SAMPLES = 1000


def mnist_mlp(
    hidden=MNIST_HIDDEN,
    dropout=0.2,
    kernel_initializer="glorot_uniform",
    augment=True,
    name="mnist_mlp",
):
    """A multilayer perceptron for 28x28 digits that takes raw uint8 images.

    Rescaling to [0, 1] happens inside the model, so a saved model accepts
    raw images. The augmentation layers (small shifts, rotations and zooms)
    are active only in training.

    Args:
        hidden: Units of each hidden `Dense` layer.
        dropout: Dropout rate after each hidden layer (0 for none).
        kernel_initializer: Any Keras initializer name for every `Dense`
            kernel; `"zeros"` shows why networks need random initialisation.
        augment: Whether to add the training-only augmentation layers.
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
    if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise InvalidArgumentError(f"dropout must be a number in [0, 1). Received: dropout={dropout!r}")
    try:
        keras.initializers.get(kernel_initializer)
    except ValueError:
        raise InvalidArgumentError(f"unknown Keras initializer. Received: init={kernel_initializer!r}") from None
    layers = keras.layers
    inputs = keras.Input(shape=(28, 28), dtype="uint8", name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if augment:
        x = layers.Reshape((28, 28, 1), name="to_channels")(x)
        x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant", name="shift")(x)
        x = layers.RandomRotation(0.03, fill_mode="constant", name="rotate")(x)
        x = layers.RandomZoom(0.08, fill_mode="constant", name="zoom")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", kernel_initializer=kernel_initializer, name=f"hidden_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(10, activation="softmax", kernel_initializer=kernel_initializer, name="digits")(x)
    return keras.Model(inputs, outputs, name=name)


class _NanGuard(keras.callbacks.Callback):
    """At each epoch's end, keeps the weights if the loss is finite, else restores them and stops.

    The first good weights are those training starts from (taken at the first
    epoch's start, after `BackupAndRestore` has restored a resumed run), so a
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


class _ResumeNotice(keras.callbacks.Callback):
    """Says so when `BackupAndRestore` made training start after epoch 1."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch > 0 and not getattr(self, "_said", False):
            print(f"resuming from the backup: epochs 1-{epoch} already done")
        self._said = True


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


def compile_mnist(model, learning_rate, total_steps, optimizer="adam", label_smoothing=MNIST_LABEL_SMOOTHING):
    """The recipe's compile: a cosine-decaying learning rate, cross-entropy on one-hot labels, smoothed."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(total_steps, 1))
    model.compile(
        optimizer=make_optimizer(optimizer, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )


def train_mnist(
    data,
    epochs=MNIST_EPOCHS,
    batch_size=MNIST_BATCH_SIZE,
    learning_rate=1e-3,
    hidden=MNIST_HIDDEN,
    dropout=0.2,
    augment=True,
    init="glorot_uniform",
    callbacks=(),
    backup_dir=None,
    verbose=0,
    seed=0,
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
        init: Keras initializer name for the `Dense` kernels.
        callbacks: More Keras callbacks.
        backup_dir: If set, `keras.callbacks.BackupAndRestore` keeps the
            last finished epoch there, so a killed run started again with
            the same arguments continues from it.
        verbose: Keras's `fit` verbosity.
        seed: Seed of Keras's initializers, dropout, augmentation and shuffling.

    Returns:
        A `MnistTraining`.

    Raises:
        LossBecameNaN: when an epoch ends with a NaN loss; its `model` holds
            the last good weights.
        TrainingCollapsed: when training ends with no gradient reaching any
            hidden kernel although `init` was not `"zeros"` (every ReLU
            dead, as after a far too large learning rate).

    Example:

    >>> from polykeras.data import load_mnist
    >>> *data, _ = load_mnist("sample")
    >>> result = train_mnist(data, epochs=1, hidden=(32,), augment=False)
    >>> 0.5 < result.test_accuracy <= 1.0
    True
    """
    for value, name in ((epochs, "epochs"), (batch_size, "batch_size")):
        check_positive_int(value, name)
    check_learning_rate(learning_rate)
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = mnist_mlp(hidden, dropout, kernel_initializer=init, augment=augment)
    compile_mnist(model, learning_rate, epochs * math.ceil(len(x_train) / batch_size))
    guard = _NanGuard()
    extra = [guard, *callbacks]
    if backup_dir:
        extra += [keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True), _ResumeNotice()]
    one_hot = keras.utils.to_categorical(y_train, 10)
    start = time.perf_counter()
    history = model.fit(x_train, one_hot, batch_size=batch_size, epochs=epochs, callbacks=extra, verbose=verbose)
    train_seconds = time.perf_counter() - start
    if guard.nan_epoch is not None:
        raise LossBecameNaN(guard.nan_epoch, model)
    hidden_units = symmetry_report(model, x_train[:SYMMETRY_SAMPLES], y_train[:SYMMETRY_SAMPLES])
    zeros = isinstance(keras.initializers.get(init), keras.initializers.Zeros)
    if not zeros and all(r["kernel_gradient_norm"] == 0 for r in hidden_units):
        raise TrainingCollapsed(model)
    done = len(history.history.get("loss", []))
    return MnistTraining(
        model=model,
        test_accuracy=accuracy(model, x_test, y_test),
        train_seconds=train_seconds,
        samples_per_second=done * len(x_train) / train_seconds,
        epochs=epochs,
        history=history.history,
        hidden_units=hidden_units,
    )


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
    with tf.GradientTape() as tape:
        probabilities = model(images, training=False)
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
    gradients = tape.gradient(loss, [layer.kernel for layer in hidden])
    report = []
    for layer, gradient in zip(hidden, gradients):
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        units = np.vstack([kernel, bias[None, :]]).T
        distinct = len(np.unique(np.round(units, 6), axis=0))
        norm = 0.0 if gradient is None else float(tf.norm(gradient))
        report.append({"layer": layer.name, "units": int(kernel.shape[1]), "distinct_units": distinct,
                       "kernel_gradient_norm": norm})
    return report
