"""polykeras.lr_finder: per-step losses, the model restored, every input and compile option, a rule of one's own."""

import logging

import keras
import numpy as np
import pytest
from helpers import BACKEND, assert_same_state, model_state

from polykeras import lr_find
from polykeras.errors import InvalidArgumentError
from polykeras.lr_finder import rules

L = keras.layers


def two_inputs(optimizer=None, **compile_options):
    """A user's functional model: two inputs, BatchNormalization, dropout, Adam."""
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = L.Dense(16, activation="relu")(L.Concatenate()([a, b]))
    h = L.Dropout(0.1)(L.BatchNormalization()(h))
    model = keras.Model([a, b], L.Dense(1)(h))
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss="mse", **compile_options)
    return model


def two_inputs_data(n=256):
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")]
    return x, (x[0].sum(axis=1, keepdims=True) - x[1][:, :1]).astype("float32")


# ----------------------------------------------------------------------------
# The losses are the steps' own, and the model is left as it was


def test_every_loss_is_its_steps_own_replayed_in_numpy():
    """A linear model with SGD, one batch per rate: NumPy replays every step's loss and update."""
    rng = np.random.default_rng(1)
    w0, b0 = rng.normal(size=(3, 1)), np.array([0.5])
    model = keras.Sequential(
        [
            keras.Input((3,)),
            L.Dense(
                1, kernel_initializer=keras.initializers.Constant(w0), bias_initializer=keras.initializers.Constant(b0)
            ),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    batches = [
        (rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")) for _ in range(40)
    ]
    result = lr_find(model, batches, steps=40, start_lr=1e-3, end_lr=1.0, check=False)
    w, b, expected = w0.astype(np.float64), b0.astype(np.float64), []
    for (x, y), rate in zip(batches, result.rates, strict=True):
        residual = x @ w + b - y
        expected.append(np.mean(residual**2))
        w, b = w - rate * 2 / len(x) * x.T @ residual, b - rate * 2 / len(x) * residual.sum(axis=0)
    assert len(result.losses) == 40 and not result.diverged
    np.testing.assert_allclose(result.rates, np.geomspace(1e-3, 1.0, 40))
    np.testing.assert_allclose(result.losses, expected, rtol=1e-5)  # every step, not only the first


def test_a_clean_sweep_leaves_a_users_model_and_its_optimizer_exactly_as_they_were():
    model = two_inputs()
    x, y = two_inputs_data()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # Adam's moments and step count are not zero
    before = model_state(model)
    result = lr_find(model, x, y, steps=40, start_lr=1e-5, end_lr=1.0)
    assert_same_state(before, model)
    assert result.check_steps > 0 and len(result.candidates) >= 3  # the sweep and the check both trained it
    assert len(result.losses) >= 10 and len(set(result.losses.round(6))) > 5  # it trained, a batch a step
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == np.float32(1e-3)


def test_a_sweep_that_diverges_to_nan_leaves_the_model_as_it_was():
    model = two_inputs(keras.optimizers.SGD(0.01))
    x, y = two_inputs_data()
    before = model_state(model)
    # Rates 1e-3, 1e25 and 1e53: the second step's update overflows float32, and the third loss is inf or NaN.
    result = lr_find(model, x, y, steps=3, start_lr=1e-3, end_lr=1e53)
    assert result.diverged and not np.isfinite(result.losses[-1])  # the fault fired
    assert_same_state(before, model)
    model.fit(x, y, epochs=1, verbose=0)  # and it still trains
    assert np.isfinite(model.evaluate(x, y, verbose=0))


def test_an_exception_mid_sweep_leaves_the_model_as_it_was():
    model = two_inputs()
    x, y = two_inputs_data()
    before = model_state(model)

    def batches():
        for k in range(8):
            yield [x[0][32 * k : 32 * (k + 1)], x[1][32 * k : 32 * (k + 1)]], y[32 * k : 32 * (k + 1)]
            if k == 5:
                raise KeyboardInterrupt  # the user's Ctrl-C, after six steps

    with pytest.raises(KeyboardInterrupt):
        lr_find(model, batches(), steps=20, check=False)
    assert_same_state(before, model)


def test_the_same_seed_gives_the_same_curve_and_suggestion():
    x, y = two_inputs_data()
    keras.utils.set_random_seed(3)
    first_model = two_inputs()
    first = lr_find(first_model, x, y, steps=30, seed=5)
    again = lr_find(first_model, x, y, steps=30, seed=5)
    keras.utils.set_random_seed(3)
    rebuilt = lr_find(two_inputs(), x, y, steps=30, seed=5)  # a fresh model, built from the same seed
    other = lr_find(first_model, x, y, steps=30, seed=6)
    for repeat in (again, rebuilt):
        np.testing.assert_array_equal(repeat.losses, first.losses)
        assert repeat.suggestions == first.suggestions and repeat.suggestion == first.suggestion
        assert [c.score for c in repeat.candidates] == [c.score for c in first.candidates]
    assert not np.array_equal(other.losses, first.losses)  # the seed orders the batches


# ----------------------------------------------------------------------------
# Every input fit takes


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, sample_weight):
        super().__init__()
        self.x, self.y, self.sample_weight = x, y, sample_weight

    def __len__(self):
        return 8

    def __getitem__(self, k):
        part = slice(32 * k, 32 * (k + 1))
        return ({"a": self.x[0][part], "b": self.x[1][part]}, self.y[part], self.sample_weight[part])


def linear_two_inputs():
    """Two inputs, one Dense layer: its loss on a batch is the same in training and inference."""
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    model = keras.Model([a, b], L.Dense(1)(L.Concatenate()([a, b])))
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    return model


def _inputs(kind):
    x, y = two_inputs_data()
    weights = np.where(np.arange(len(y)) % 2, 1.0, 0.0).astype("float32")  # the odd samples alone count
    if kind == "list of arrays":
        return (x, y), {"sample_weight": weights}
    if kind == "dict of arrays":
        return ({"a": x[0], "b": x[1]}, y), {"sample_weight": weights}
    if kind == "PyDataset":
        return (Batches(x, y, weights),), {}
    if kind == "generator":
        return (
            (([x[0][k : k + 32], x[1][k : k + 32]], y[k : k + 32], weights[k : k + 32]) for k in range(0, 256, 32)),
        ), {}
    if kind == "tf.data":
        import tensorflow as tf

        return (tf.data.Dataset.from_tensor_slices(((x[0], x[1]), y, weights)).batch(32),), {}
    return (
        [([x[0][k : k + 32], x[1][k : k + 32]], y[k : k + 32], weights[k : k + 32]) for k in range(0, 256, 32)],
    ), {}


KINDS = [
    "list of arrays",
    "dict of arrays",
    "PyDataset",
    "generator",
    "iterable of batches",
    pytest.param("tf.data", marks=pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data is TensorFlow's")),
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_input_fit_takes_with_sample_weights(kind):
    """The first loss is the first batch's, the zero-weighted half left out: half the mean over the odd samples."""
    model = linear_two_inputs()
    args, options = _inputs(kind)
    before = model_state(model)
    steps = 8 if kind == "generator" else 20  # a generator ends after its one pass
    result = lr_find(model, *args, steps=steps, start_lr=1e-4, end_lr=1e-1, batch_size=32, check=False, **options)
    assert len(result.losses) == steps and np.isfinite(result.losses).all()
    assert_same_state(before, model)
    x, y = two_inputs_data()
    # Arrays are taken in a seeded order (seed 0 here); the others' batches in theirs.
    first = np.random.default_rng(0).permutation(256)[:32] if kind.endswith("arrays") else np.arange(32)
    predicted = keras.ops.convert_to_numpy(model([x[0][first], x[1][first]], training=False))
    odd = first % 2 == 1
    expected = np.sum((predicted[odd] - y[first][odd]) ** 2) / 32  # Keras's sum over the batch's size
    np.testing.assert_allclose(result.losses[0], expected, rtol=1e-4)


# ----------------------------------------------------------------------------
# Every compile option that changes a step


def _line(compile_options=None, optimizer=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dense(1)])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(), loss="mse", **(compile_options or {}))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype("float32")
    return model, x, (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")


def test_steps_per_execution_gives_each_step_its_own_rate_and_loss_and_fit_runs_every_step_after():
    """Compiled with 4 steps a call, the sweep is the one of 1 step a call: the same losses and suggestion. The next
    `fit` runs 4 steps a call again, every step of it, as a twin compiled the same and never swept does."""
    one, x, y = _line()
    four, _, _ = _line({"steps_per_execution": 4})
    single = lr_find(one, x, y, steps=60, start_lr=1e-4, end_lr=10, check=False)
    grouped = lr_find(four, x, y, steps=60, start_lr=1e-4, end_lr=10, check=False)
    np.testing.assert_allclose(grouped.losses, single.losses, rtol=1e-5)
    grid_step = 10 ** (5 / 59)  # one rate to the next
    assert grouped.suggestion == pytest.approx(single.suggestion, rel=grid_step - 1)
    assert four.steps_per_execution == 4  # compiled as it was
    if BACKEND == "torch":
        return  # Keras's PyTorch trainer refuses steps_per_execution > 1 in fit
    twin, _, _ = _line({"steps_per_execution": 4})
    for model in (four, twin):
        model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)  # 8 steps
    assert int(keras.ops.convert_to_numpy(four.optimizer.iterations)) == 8
    for swept, never in zip(four.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(swept, never, rtol=1e-6)


def test_a_learning_rate_schedule_is_swept_over_and_back_afterwards():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=10, decay_rate=0.5)
    scheduled, x, y = _line(optimizer=keras.optimizers.SGD(schedule))
    constant, _, _ = _line()
    swept = lr_find(scheduled, x, y, steps=50, start_lr=1e-4, end_lr=10, check=False)
    reference = lr_find(constant, x, y, steps=50, start_lr=1e-4, end_lr=10, check=False)
    np.testing.assert_allclose(swept.losses, reference.losses, rtol=1e-3)  # the sweep's rates, not the schedule's
    from polykeras import keras_compat

    assert keras_compat.schedule_or_rate(scheduled.optimizer) is schedule
    scheduled.fit(x, y, epochs=1, batch_size=64, verbose=0)  # the schedule drives training again: 8 steps
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(scheduled.optimizer.learning_rate)), 0.05 * 0.5 ** (8 / 10), rtol=1e-5
    )


def test_mixed_precision_sweeps_the_inner_rate_and_restores_the_loss_scale():
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(8, activation="relu", dtype="mixed_float16"), L.Dense(1, dtype="float32")]
    )
    model.compile(optimizer=optimizer, loss="mse")
    _, x, y = _line()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    before = model_state(model)
    result = lr_find(model, x, y, steps=40, start_lr=1e-5, end_lr=10, check=False)
    assert len(result.losses) >= 10 and np.isfinite(result.losses[:10]).all()
    # The rate changed each step: it rose from 1e-5, where Adam barely moves the loss, until the loss exploded.
    assert result.diverged and result.rates[-1] > 1e-2 and np.nanmax(result.losses) > 4 * result.losses[0]
    assert_same_state(before, model)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == np.float32(1e-3)


def test_gradient_accumulation_is_refused_by_name():
    model, x, y = _line(optimizer=keras.optimizers.SGD(gradient_accumulation_steps=4))
    with pytest.raises(InvalidArgumentError, match=r"gradient accumulation .* Received: gradient_accumulation_steps=4"):
        lr_find(model, x, y, steps=10)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"model": "poly"}, r"a built-in task sweeps its own: polykeras.tasks.get\('poly'\).lr_find\(\)"),
        ({"model": 3}, "model must be a compiled keras.Model. Received: model=3"),
        ({"model": keras.Sequential([L.Dense(1)])}, "model must be a compiled keras.Model"),
        ({"suggest": "nope"}, "suggest must be one of descent, valley, minimum, steepest or a function"),
        ({"steps": 1}, "steps must be an integer >= 2. Received: steps=1"),
        ({"start_lr": 1.0, "end_lr": 0.1}, "Received: start_lr=1.0, end_lr=0.1"),
    ],
)
def test_lr_find_refuses_what_it_cannot_sweep(arguments, message):
    model, x, y = _line()
    with pytest.raises(InvalidArgumentError, match=message):
        lr_find(**{"model": model, "x": x, "y": y, **arguments})


def test_a_rule_of_ones_own_is_used_and_reported_beside_the_others():
    model, x, y = _line()

    def half_the_minimum(rates, losses):
        return float(rates[np.argmin(losses)] / 2)

    result = lr_find(model, x, y, steps=50, start_lr=1e-4, end_lr=10, suggest=half_the_minimum, check=False)
    assert result.rule == "half_the_minimum" and result.suggestion == half_the_minimum(result.rates, result.losses)
    assert set(result.suggestions) == {*rules.RULES, "half_the_minimum"}
    assert all(isinstance(v, float) for v in result.suggestions.values())


def test_an_untrusted_sweep_is_flagged_and_logged(caplog):
    model, x, y = _line()
    with caplog.at_level(logging.WARNING, logger="polykeras"):
        result = lr_find(model, x, y, steps=30, start_lr=1e-9, end_lr=1e-8, check=False)  # too small to move a thing
    assert result.warning.startswith("no clear descent")
    assert f"the suggestion {result.suggestion:.3g} cannot be trusted: no clear descent" in caplog.text


def test_data_that_ends_before_the_sweep_does_says_so_and_keeps_what_it_measured(caplog):
    model, x, y = _line()

    def five_batches():
        for k in range(5):
            yield x[64 * k : 64 * (k + 1)], y[64 * k : 64 * (k + 1)]

    with caplog.at_level(logging.WARNING, logger="polykeras"):
        result = lr_find(model, five_batches(), steps=20, start_lr=1e-4, end_lr=1.0, check=False)
    assert "lr_find: the data ended after 5 of 20 steps" in caplog.text
    assert len(result.rates) == len(result.losses) == 5 and np.isclose(result.rates[0], 1e-4)
