"""polykeras.TensorBoard on models it was not designed for: Keras's tags, and every panel's values read back."""

import os
import textwrap

import keras
import numpy as np
import pytest
from helpers import BACKEND, decode_image, read_run, run_python

from polykeras.tensorboard import TensorBoard
from polykeras.tensorboard.panels import INITIAL_KERNEL_FILE, tile_grid, tiles

L = keras.layers


def convnet():
    """keras-io's MNIST convnet, shrunk: two Conv2D, MaxPooling2D, Dense."""
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            L.Conv2D(4, 3, activation="relu", name="conv_1"),
            L.MaxPooling2D(),
            L.Conv2D(4, 3, activation="relu", name="conv_2"),
            L.Flatten(),
            L.Dense(3, name="logits"),
        ],
        name="convnet",
    )


def two_inputs():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = L.Dense(8, activation="relu", name="hidden")(L.Concatenate()([a, b]))
    h = L.ReLU(name="relu")(L.BatchNormalization(name="norm")(h))
    return keras.Model([a, b], L.Dense(1, name="out")(h), name="two_inputs")


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.hidden = L.Dense(8, activation="relu", name="hidden")
        self.out = L.Dense(1, name="out")

    def call(self, x):
        return self.out(self.hidden(x))


def colour_batchnorm():
    """A colour convnet with BatchNormalization between the convolution and its ReLU."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(4, 3, name="conv"),
            L.BatchNormalization(name="norm"),
            L.ReLU(name="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(2, name="logits"),
        ],
        name="colour",
    )


def data_for(kind, n=32):
    rng = np.random.default_rng(0)
    if kind == "convnet":
        return rng.random((n, 12, 12, 1), np.float32), rng.integers(0, 3, n)
    if kind == "two_inputs":
        return [rng.random((n, 4), np.float32), rng.random((n, 3), np.float32)], rng.random((n, 1), np.float32)
    if kind == "subclassed":
        return rng.random((n, 4), np.float32), rng.random((n, 1), np.float32)
    return rng.random((n, 8, 8, 3), np.float32), rng.integers(0, 2, n)


MODELS = {"convnet": convnet, "two_inputs": two_inputs, "subclassed": Subclassed, "colour_batchnorm": colour_batchnorm}
# What each model gets beside the weights' tags: dead units per ReLU layer, and first-layer pictures.
RELU_LAYERS = {
    "convnet": ["conv_1", "conv_2"],
    "two_inputs": ["hidden", "relu"],
    "subclassed": ["hidden"],
    "colour_batchnorm": ["relu"],
}
PICTURES = {"convnet": "conv_1", "colour_batchnorm": "conv"}


class WeightCopies(keras.callbacks.Callback):
    """Copies of every trainable variable after each epoch, to recompute the logged values independently."""

    copies = ()

    def on_epoch_begin(self, epoch, logs=None):  # a subclassed model is built by now, not at train begin
        if not self.copies:
            self.on_epoch_end(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.copies = self.copies or []
        self.copies.append({v.path: keras.ops.convert_to_numpy(v).copy() for v in self.model.trainable_variables})


def compiled(kind):
    model = MODELS[kind]()
    classifier = kind in ("convnet", "colour_batchnorm")
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) if classifier else "mse",
    )
    return model


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_panel_follows_from_what_the_model_contains(tmp_path, kind):
    model, (x, y) = compiled(kind), data_for(kind)
    copies = WeightCopies()
    callback = TensorBoard(tmp_path, image_freq=1, data=(x, y))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback, copies])
    run = read_run(tmp_path / "train")

    trainable = [v.path for v in model.trainable_variables]
    layers = sorted({p.rpartition("/")[0] for p in trainable})
    expected = {
        "epoch_loss",
        "epoch_learning_rate",
        "custom_scalars__config__",
        *(f"{v.path}/histogram" for v in model.weights),
        *(f"weight_norm/{layer}" for layer in layers),
        *(f"gradient_norm/{layer}" for layer in layers),
        *(f"update_ratio/{p}" for p in trainable),
        *(f"activations/{name}/{what}" for name in RELU_LAYERS[kind] for what in ("dead_fraction", "histogram")),
    }
    if kind != "subclassed":
        expected.add("keras")  # the model's graph, for Functional and Sequential models as Keras writes it
    if kind in PICTURES:
        expected |= {f"weights/{PICTURES[kind]}_kernels", f"weights/{PICTURES[kind]}_learned"}
    assert set(run) == expected

    final, before, start = copies.copies[-1], copies.copies[-2], copies.copies[0]
    for layer in layers:
        norm = np.sqrt(sum(np.sum(final[p].astype(np.float64) ** 2) for p in trainable if p.startswith(layer + "/")))
        assert [s for s, _ in run[f"weight_norm/{layer}"]] == [0, 1, 2]
        assert float(run[f"weight_norm/{layer}"][-1][1]) == pytest.approx(norm, rel=1e-5)
        assert float(run[f"gradient_norm/{layer}"][-1][1]) > 0
    for path in trainable:
        ratio = np.linalg.norm(final[path] - before[path]) / np.linalg.norm(before[path])
        assert run[f"update_ratio/{path}"][-1][0] == 2
        assert float(run[f"update_ratio/{path}"][-1][1]) == pytest.approx(ratio, rel=1e-4)
        if np.any(start[path]):  # a variable that starts at zero (a bias) has no ratio at the first log
            assert [s for s, _ in run[f"update_ratio/{path}"]] == [1, 2]
    if kind in PICTURES:
        layer = model.get_layer(PICTURES[kind])
        shape = (*x.shape[1:3], x.shape[3])
        initial = np.load(tmp_path / INITIAL_KERNEL_FILE)
        np.testing.assert_array_equal(initial, start[layer.kernel.path])
        drawn = decode_image(run[f"weights/{layer.name}_learned"][-1][1])
        np.testing.assert_array_equal(drawn, tile_grid(tiles(final[layer.kernel.path] - initial, layer, shape)))
        assert drawn.ndim == (3 if shape[2] == 3 else 2)


def test_a_unit_made_dead_on_purpose_is_counted(tmp_path):
    # Units 0-3 get a bias of -100 on inputs in [0, 1): dead from the start, and no gradient revives them.
    bias = keras.initializers.Constant(np.array([-100.0] * 4 + [0.0] * 4))
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(8, activation="relu", kernel_initializer="ones", bias_initializer=bias, name="half_dead"),
            L.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = data_for("subclassed")
    callback = TensorBoard(tmp_path, data=(x, y))
    model.fit(x, y, epochs=3, verbose=0, callbacks=[callback])
    dead = read_run(tmp_path / "train")["activations/half_dead/dead_fraction"]
    assert [(s, float(v)) for s, v in dead] == [(0, 0.5), (1, 0.5), (2, 0.5), (3, 0.5)]


def test_gradient_norms_equal_the_hand_computed_gradient_of_a_linear_model(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.random((16, 3)), rng.random((16, 1))
    model = keras.Sequential([keras.Input((3,)), L.Dense(1, name="linear")])
    model.compile(optimizer="sgd", loss="mse")
    copies = WeightCopies()
    callback = TensorBoard(tmp_path, data=(x, y))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback, copies])
    layer = model.get_layer("linear")
    w, b = copies.copies[-1][layer.kernel.path], copies.copies[-1][layer.bias.path]
    residual = x @ w + b - y  # d/dw mean((xw + b - y)^2) = 2/n x^T r; d/db = 2/n sum(r)
    expected = np.sqrt(np.sum((2 / 16 * x.T @ residual) ** 2) + np.sum(2 / 16 * residual.sum()) ** 2)
    logged = read_run(tmp_path / "train")[f"gradient_norm/{layer.kernel.path.rpartition('/')[0]}"]
    assert logged[0][0] == 1 and float(logged[0][1]) == pytest.approx(expected, rel=1e-4)


def test_keras_tags_are_written_for_the_same_arguments(tmp_path):
    model, (x, y) = compiled("convnet"), data_for("convnet", n=40)
    callback = TensorBoard(
        tmp_path, histogram_freq=1, write_images=True, write_steps_per_second=True, update_freq=2, data=(x, y)
    )
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0, callbacks=[callback])
    train, validation = read_run(tmp_path / "train"), read_run(tmp_path / "validation")
    keras_train = {
        "epoch_loss",
        "epoch_learning_rate",
        "epoch_steps_per_second",
        "batch_loss",
        "batch_steps_per_second",
        "keras",
        *(f"{v.path}/histogram" for v in model.weights),
        *(f"{v.path}/image" for v in model.weights),
    }
    assert keras_train <= set(train)
    assert set(validation) == {"epoch_loss", "evaluation_loss_vs_iterations"}
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6, 8]  # 4 batches an epoch, every 2nd, counted across epochs
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [4, 8]  # the optimizer's steps
    assert [s for s, _ in train["epoch_loss"]] == [1, 2]


@pytest.mark.tensorflow
def test_every_tag_of_keras_own_callback_is_written_too(tmp_path):
    """Keras's callback and this one, side by side on the same model and arguments (TensorFlow: Keras's needs it)."""
    tags = {}
    for name, make in (("keras", keras.callbacks.TensorBoard), ("polykeras", TensorBoard)):
        keras.utils.set_random_seed(0)
        model, (x, y) = compiled("convnet"), data_for("convnet", n=40)
        callback = make(
            str(tmp_path / name), histogram_freq=1, write_images=True, write_steps_per_second=True, update_freq=2
        )
        model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0, callbacks=[callback])
        tags[name] = {sub: set(read_run(tmp_path / name / sub)) for sub in ("train", "validation")}
    assert tags["keras"]["train"] and tags["keras"]["validation"]
    for sub in ("train", "validation"):
        assert tags["keras"][sub] <= tags["polykeras"][sub], tags["keras"][sub] - tags["polykeras"][sub]


def test_panels_can_be_turned_off(tmp_path):
    model, (x, y) = compiled("convnet"), data_for("convnet")
    callback = TensorBoard(tmp_path, data=(x, y), panels=(), write_graph=False)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert set(read_run(tmp_path / "train")) == {"epoch_loss", "epoch_learning_rate"}


def test_a_scheduled_learning_rate_is_logged_at_the_optimizers_step_count(tmp_path):
    """The schedule runs compiled, not as Keras evaluates it; its values must still be the schedule's."""
    model, (x, y) = MODELS["convnet"](), data_for("convnet")  # 32 samples, batch 8: 4 steps an epoch
    schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=12, alpha=0.1)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    callback = TensorBoard(tmp_path, panels=(), write_graph=False)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[callback])
    logged = [(step, float(value)) for step, value in read_run(tmp_path / "train")["epoch_learning_rate"]]

    def cosine(t):
        return 0.01 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(t, 12) / 12)))

    assert [step for step, _ in logged] == [1, 2, 3]
    np.testing.assert_allclose([rate for _, rate in logged], [cosine(4), cosine(8), cosine(12)], rtol=1e-6)
    assert logged[-1][1] == pytest.approx(float(model.optimizer.learning_rate))


def test_without_histograms_nothing_needs_data_and_nothing_is_said(tmp_path):
    import warnings

    model, (x, y) = compiled("convnet"), data_for("convnet")
    callback = TensorBoard(tmp_path, histogram_freq=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert not [w for w in caught if "polykeras.TensorBoard" in str(w.message)]


def test_without_data_one_warning_names_what_is_not_logged(tmp_path):
    model, (x, y) = compiled("convnet"), data_for("convnet")
    callback = TensorBoard(tmp_path)
    with pytest.warns(UserWarning, match="without data=.* not logged: gradient norms, activations") as caught:
        model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    assert len([w for w in caught if "polykeras.TensorBoard" in str(w.message)]) == 1
    run = read_run(tmp_path / "train")
    assert not any(t.startswith(("gradient_norm/", "activations/")) for t in run)
    assert "weight_norm/convnet/conv_1" in run or "weight_norm/conv_1" in run


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"profile_batch": 2}, "profile_batch is not supported.*Received: profile_batch=2"),
        ({"embeddings_freq": 1}, "embeddings_freq is not supported.*Received: embeddings_freq=1"),
        ({"update_freq": 0}, "Received: update_freq=0"),
        ({"histogram_freq": -1}, "Received: histogram_freq=-1"),
        ({"image_freq": 1.5}, "Received: image_freq=1.5"),
        ({"panels": ("weights", "gradients")}, "panels takes.*Received: panels="),
    ],
)
def test_unsupported_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        TensorBoard("logs", **arguments)


@pytest.mark.parametrize("writing", ["at the end", "during training"])
def test_after_a_fit_that_raised_wait_writes_the_epochs_before(tmp_path, monkeypatch, writing):
    """Keras calls no on_train_end when fit raises; `wait()` then writes and closes, and the callback works again."""
    import threading

    from polykeras.tensorboard import callback as module

    # Every epoch long (the writer thread starts at the second epoch's end), or every epoch short (not before the end).
    monkeypatch.setattr(module, "LONG_EPOCH_SECONDS", 0.0 if writing == "during training" else float("inf"))

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    model, (x, y) = compiled("subclassed"), data_for("subclassed")
    callback = TensorBoard(tmp_path / "first", panels=(), write_graph=False)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[callback, Interrupt()])
    assert callback._summaries.started == (writing == "during training")  # the case this test is about
    waiting = threading.Thread(target=callback.wait, daemon=True)
    waiting.start()
    waiting.join(timeout=60)
    assert not waiting.is_alive(), "wait() did not return after a fit that raised"
    assert [s for s, _ in read_run(tmp_path / "first" / "train")["epoch_loss"]] == [1, 2]
    callback.log_dir = str(tmp_path / "second")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callback])
    assert [s for s, _ in read_run(tmp_path / "second" / "train")["epoch_loss"]] == [1]


def test_evaluate_outside_fit_logs_against_the_optimizer_steps(tmp_path):
    model, (x, y) = compiled("subclassed"), data_for("subclassed")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.evaluate(x, y, verbose=0, callbacks=[TensorBoard(tmp_path)])
    run = read_run(tmp_path / "validation")
    assert [s for s, _ in run["evaluation_loss_vs_iterations"]] == [4]


@pytest.mark.slow
def test_under_data_parallel_on_two_devices_every_logged_value_equals_a_single_device_runs(tmp_path):
    if BACKEND != "jax":
        pytest.skip("keras.distribution is JAX's here")
    code = textwrap.dedent(f"""
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        os.environ["KERAS_BACKEND"] = "jax"
        import jax, keras, numpy as np
        from helpers import read_run
        from polykeras.tensorboard import TensorBoard
        assert len(jax.devices()) == 2, jax.devices()
        L = keras.layers
        rng = np.random.default_rng(0)
        x, y = rng.random((64, 6), np.float32), rng.random((64, 1), np.float32)

        def trained(folder, distribution):
            keras.distribution.set_distribution(distribution)
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="hidden"),
                                      L.BatchNormalization(name="norm"), L.Dense(1, name="out")], name="net")
            model.compile(optimizer="adam", loss="mse")
            callback = TensorBoard(folder, data=(x, y))
            model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
            return model, read_run(os.path.join(folder, "train"))

        single_model, single = trained({str(tmp_path / "single")!r}, None)
        model, run = trained({str(tmp_path / "parallel")!r}, keras.distribution.DataParallel(devices=jax.devices()))
        sharding = model.get_layer("hidden").kernel.value.sharding
        # What each panel computes on the sharded model: the same as on one device (up to the order of sums).
        scalars = [tag for tag, values in single.items()
                   if np.ndim(values[-1][1]) == 0 and np.issubdtype(np.asarray(values[-1][1]).dtype, np.number)]
        for kind in ("gradient_norm/", "update_ratio", "weight_norm/", "dead_fraction"):
            assert any(kind in tag for tag in scalars), (kind, scalars)
        assert set(scalars) <= set(run), set(scalars) - set(run)
        for tag in scalars:
            a, b = [float(v) for _, v in single[tag]], [float(v) for _, v in run[tag]]
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=tag)
        for layer in ("hidden", "norm", "out"):
            weights = [keras.ops.convert_to_numpy(v) for v in model.get_layer(layer).trainable_weights]
            norm = np.sqrt(sum(np.sum(w.astype(np.float64) ** 2) for w in weights))
            owner = model.get_layer(layer).trainable_weights[0].path.rpartition("/")[0]
            logged = float(run["weight_norm/" + owner][-1][1])
            assert abs(logged - norm) <= 1e-6 * norm, (layer, logged, norm)
        kernel = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel)
        table = run[model.get_layer("hidden").kernel.path + "/histogram"][-1][1]
        assert table[0, 0] == np.float64(kernel.min()) and table[-1, 1] == np.float64(kernel.max())
        assert table[:, 2].sum() == kernel.size
        print("devices", len(sharding.device_set), "compared", len(scalars))
    """)
    done = run_python(code, cwd=os.path.dirname(__file__), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "devices 2" in done.stdout, done.stdout


def test_an_mlp_on_flat_images_gets_one_tile_per_unit_raw_and_learned(tmp_path):
    from polykeras import backend
    from polykeras.data import load_mnist
    from polykeras.mnist import mnist_mlp, train_mnist

    *data, _ = load_mnist("sample")
    (x_test, y_test) = data[1]
    batch = (x_test[:64], keras.utils.to_categorical(y_test[:64], 10))
    callback = TensorBoard(tmp_path, image_freq=1, data=batch)
    result = train_mnist(data, epochs=2, hidden=(32,), augment=False, callbacks=[callback])
    run = read_run(tmp_path / "train")
    assert {
        "weights/hidden_1_kernels",
        "weights/hidden_1_learned",
        "activations/hidden_1/dead_fraction",
        "hidden_1/kernel/histogram",
        "gradient_norm/hidden_1",
        "update_ratio/hidden_1/kernel",
    } <= set(run)
    # W0 is the kernel Keras initialised (same seed), and the last "learned" image draws W - W0.
    backend.set_random_seed(0)
    layer = mnist_mlp(hidden=(32,), augment=False).get_layer("hidden_1")
    initial = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_array_equal(np.load(tmp_path / INITIAL_KERNEL_FILE), initial)
    final = keras.ops.convert_to_numpy(result.model.get_layer("hidden_1").kernel)
    step, image = run["weights/hidden_1_learned"][-1]
    expected = tile_grid(tiles(final - initial, layer, (28, 28, 1)))
    assert step == 2 and not np.array_equal(tile_grid(tiles(final, layer, (28, 28, 1))), expected)
    np.testing.assert_array_equal(decode_image(image), expected)
    assert expected.shape == (2 * (6 * 29 + 1), 2 * (6 * 29 + 1))  # 32 units: 6 x 6 tiles of 28 px, twice as large
    counts = run["hidden_1/kernel/histogram"][-1][1][:, 2]
    assert counts.sum() == 784 * 32


def test_at_update_freq_epoch_the_callback_has_no_batch_hooks_so_keras_keeps_steps_asynchronous():
    """Keras runs steps without waiting for their results unless a callback overrides `on_train_batch_end` or
    `on_batch_end` (what `CallbackList` asks of each callback): at "epoch" both are `keras.callbacks.Callback`'s own."""
    import copy

    def hooks(callback):
        names = ("on_batch_end", "on_train_batch_begin", "on_train_batch_end")
        default = keras.callbacks.Callback
        return [name for name in names if getattr(callback, name).__func__ is not getattr(default, name)]

    at_epochs, every_5 = TensorBoard("logs", update_freq="epoch"), TensorBoard("logs", update_freq=5)
    assert hooks(at_epochs) == [] and hooks(every_5) == ["on_train_batch_begin", "on_train_batch_end"]
    assert hooks(copy.deepcopy(at_epochs)) == [] and hooks(copy.deepcopy(every_5)) == hooks(every_5)
    assert hooks(TensorBoard("logs")) == []  # "epoch" is the default
