"""polykeras.lr_finder.check: candidates trained briefly from the model's start and scored on validation data that
they never train on; below the cliff where the sweep's pick is past it; the model put back after a check that
diverged or raised; with every input and compile option."""

import keras
import numpy as np
import pytest
from helpers import BACKEND, assert_same_state, model_state

from polykeras import lr_find
from polykeras.errors import InvalidArgumentError
from polykeras.lr_finder import batches, check
from polykeras.optimizers import schedule_of

L = keras.layers


def test_candidates_are_every_rules_pick_and_the_defaults_neighbours_each_once():
    picks = {"descent": 0.01, "valley": 0.0105, "minimum": 0.001, "steepest": 0.05}
    found = check.candidates(picks, "descent")
    assert found == [
        (0.001, "minimum"),
        (pytest.approx(0.01 / 3), "descent / 3"),
        (0.01, "descent"),
        (pytest.approx(0.03), "descent x 3"),
        (0.05, "steepest"),
    ]  # valley, within a factor 10**0.1 of descent, is descent's candidate
    assert check.candidates({"descent": 0.01, "valley": float("nan")}, "descent")[1] == (0.01, "descent")


def test_the_check_keeps_the_lowest_rate_within_one_standard_error_of_the_best():
    Candidate = check.Candidate
    slow, good = Candidate(1e-3, "a", 0.60, 0.01), Candidate(1e-2, "b", 0.52, 0.01)
    best, wild = Candidate(3e-2, "c", 0.50, 0.02), Candidate(1e-1, "d")  # wild diverged: inf
    assert check.choose([slow, good, best, wild]) is good  # 0.52 <= 0.50 + 0.02, and a lower rate
    best.error = 0.019
    assert check.choose([slow, good, best, wild]) is best  # 0.52 > 0.519: told apart
    best.error = 0.0
    assert check.choose([wild, best, good]) is best  # one batch: no spread, the lowest loss
    assert check.choose([Candidate(1.0, "x"), Candidate(2.0, "y")]) is None  # every one diverged


def test_the_validation_loss_is_the_size_weighted_mean_with_its_standard_error():
    model = keras.Sequential([keras.Input((1,)), L.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="mse")  # predicts 0: each batch's loss is its mean of y**2
    ys = [np.array([[1.0], [3.0]]), np.array([[2.0]] * 4), np.array([[0.0], [2.0], [4.0]])]
    batches = [(np.zeros_like(y, "float32"), y.astype("float32"), None) for y in ys]
    means, sizes = np.array([5.0, 4.0, 20 / 3]), np.array([2, 4, 3])
    weights = sizes / sizes.sum()
    loss, error = check.validation_loss(model, batches)
    assert loss == pytest.approx(weights @ means, rel=1e-6)
    assert error == pytest.approx(np.sqrt(3 / 2 * weights**2 @ (means - weights @ means) ** 2), rel=1e-6)
    assert check.validation_loss(model, batches[:1]) == (pytest.approx(5.0), 0.0)


def _product_model():
    """y = a * b * x from a = b = 0.1: its curvature grows as a and b grow toward 3, so that training at a rate
    that the sweep's few steps found fine diverges when it goes on: the cliff is at 1/18 (a stable step needs
    rate * 2 * (a**2 + b**2) < 2 at a = b = 3)."""
    model = keras.Sequential(
        [
            keras.Input((1,)),
            L.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(0.1)),
            L.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(0.1)),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, 1)).astype("float32")
    return model, x, (9.0 * x + 0.1 * rng.normal(size=(4096, 1))).astype("float32")


def test_where_the_sweeps_pick_is_past_the_cliff_the_checked_suggestion_is_below_it():
    model, x, y = _product_model()
    cliff = 1 / 18
    found = lr_find(model, x, y, batch_size=64, start_lr=1e-3, end_lr=10, steps=30, check_steps=100)
    assert found.suggestions["descent"] > cliff  # the sweep's own pick: past the cliff
    assert found.suggestion < cliff, found.candidates  # the check's: below it
    past = [c for c in found.candidates if c.rate > cliff]
    below = [c for c in found.candidates if c.rate < cliff]
    assert past and below and min(c.score for c in below) < 0.02 < min(c.score for c in past)  # the noise: 0.01
    assert found.check_steps == sum(c.steps for c in found.candidates) <= 100 * len(found.candidates)
    assert found.validation == "a random 20 % of x, held out (seed 0)"
    sweep_only = lr_find(model, x, y, batch_size=64, start_lr=1e-3, end_lr=10, steps=30, check=False)
    assert sweep_only.suggestion > cliff and sweep_only.candidates == [] and sweep_only.validation is None


def test_the_validation_share_is_never_trained_on():
    """What the sweep and the candidates train on, and what the check scores on, share no sample."""
    x = np.arange(1000.0)[:, None]
    training, validation, described = batches.parts(x, x[:, 0], batch_size=10, seed=3, held_out=0.2)
    seen = {float(v) for _, batch in zip(range(300), training(), strict=False) for v in batch[0][:, 0]}
    held = {float(v) for batch in validation for v in batch[0][:, 0]}
    assert len(held) == 200 and len(seen) == 800 and not seen & held  # three passes over the training part
    assert described == "a random 20 % of x, held out (seed 3)"
    _, other, _ = batches.parts(x, x[:, 0], batch_size=10, seed=4, held_out=0.2)
    assert {float(v) for batch in other for v in batch[0][:, 0]} != held  # the seed draws the share
    training, validation, described = batches.parts(x, x[:, 0], batch_size=10, validation_split=0.1)
    assert [float(v) for batch in validation for v in batch[0][:, 0]] == list(np.arange(900.0, 1000.0))
    assert max(float(v) for _, batch in zip(range(200), training(), strict=False) for v in batch[0][:, 0]) < 900
    assert described == "the last 10 % of x (validation_split)"
    listed = [(np.full((4, 1), k), np.zeros(4)) for k in range(10)]  # a list of batches: the last two held out
    training, validation, _ = batches.parts(listed, held_out=0.2)
    assert [int(b[0][0, 0]) for b in validation] == [8, 9]
    assert sorted({int(b[0][0, 0]) for _, b in zip(range(30), training(), strict=False)}) == list(range(8))


def _dropout_model(optimizer=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(16, activation="relu"), L.Dropout(0.2), L.BatchNormalization(), L.Dense(1)]
    )
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype("float32")
    return model, x, (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")


def test_a_check_whose_candidates_diverge_leaves_the_model_exactly_as_it_was():
    model, x, y = _dropout_model(keras.optimizers.SGD(0.01))
    model.fit(x, y, epochs=1, verbose=0)  # moving statistics, a step count and metrics that are not zero
    before = model_state(model)
    found = lr_find(model, x, y, start_lr=1.0, end_lr=1e6, steps=10, check_steps=20)
    assert any(c.score == float("inf") for c in found.candidates), found.candidates  # the fault fired
    assert_same_state(before, model)
    found = lr_find(model, x, y, start_lr=1e4, end_lr=1e8, steps=10, check_steps=20)
    assert [c.score for c in found.candidates] == [float("inf")] * len(found.candidates)
    assert found.warning.startswith("every candidate of the check diverged")
    assert found.suggestion == found.suggestions["descent"]  # the rule's pick, flagged
    assert_same_state(before, model)


def test_an_exception_mid_check_leaves_the_model_exactly_as_it_was():
    model, x, y = _dropout_model()
    model.fit(x, y, epochs=1, verbose=0)
    before = model_state(model)

    class Interrupted(Exception):
        pass

    given = []

    def stream():  # the sweep takes 11 batches; the first candidate, training 20 steps, asks for the 15th
        for k in range(16):
            if k == 14:
                raise Interrupted
            given.append(k)
            yield x[32 * k : 32 * (k + 1)], y[32 * k : 32 * (k + 1)]

    with pytest.raises(Interrupted):
        lr_find(model, stream(), validation_data=(x[:64], y[:64]), steps=10, check_steps=20)
    assert given == list(range(14))  # the fault fired mid-check: past the sweep's batches
    assert_same_state(before, model)


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return 16

    def __getitem__(self, k):
        return self.x[32 * k : 32 * (k + 1)], self.y[32 * k : 32 * (k + 1)]


def _kinds():
    kinds = ["arrays", "arrays with validation_data", "PyDataset", "generator with validation_data"]
    if BACKEND == "tensorflow":
        kinds.append("tf.data with validation_data")
    return kinds


@pytest.mark.parametrize("kind", _kinds())
def test_every_input_fit_takes_is_checked_and_the_model_left_as_it_was(kind):
    model, x, y = _dropout_model()
    before = model_state(model)
    held = (x[448:], y[448:])
    if kind == "arrays":
        args, options = (x, y), {}
    elif kind == "arrays with validation_data":
        args, options = (x[:448], y[:448]), {"validation_data": held}
    elif kind == "PyDataset":
        args, options = (Batches(x, y),), {}
    elif kind == "generator with validation_data":
        args, options = (((x[k : k + 32], y[k : k + 32]) for k in range(0, 448, 32)),), {"validation_data": held}
    else:
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((x[:448], y[:448])).batch(32)
        args, options = (data,), {"validation_data": tf.data.Dataset.from_tensor_slices(held).batch(32)}
    found = lr_find(model, *args, steps=12, check_steps=6, **options)
    assert found.candidates and all(c.steps == 6 for c in found.candidates if np.isfinite(c.score)), found
    assert found.suggestion in [c.rate for c in found.candidates]
    assert_same_state(before, model)


def test_a_generator_without_validation_data_is_refused_by_name():
    model, x, y = _dropout_model()
    with pytest.raises(InvalidArgumentError, match="pass validation_data, or check=False") as caught:
        lr_find(model, ((x[k : k + 32], y[k : k + 32]) for k in range(0, 512, 32)))
    assert caught.value.parameter == "validation_data"


@pytest.mark.parametrize(
    "options",
    [
        {"steps_per_execution": 4},
        {"optimizer": keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5))},
        {"optimizer": keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))},
    ],
    ids=["steps_per_execution", "schedule", "mixed precision"],
)
def test_every_compile_option_is_checked_at_each_candidates_own_rate(options):
    """Each candidate trains at its rate: the same model and batches at two rates end apart, and as a model
    trained the same steps at that rate by hand ends."""
    keras.utils.set_random_seed(0)
    mixed = "LossScale" in type(options.get("optimizer")).__name__
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(8, activation="relu", dtype="mixed_float16" if mixed else None), L.Dense(1)]
    )
    model.compile(loss="mse", **{"optimizer": keras.optimizers.SGD(), **options})
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    before = model_state(model)
    found = lr_find(model, x, y, steps=20, start_lr=1e-4, end_lr=1.0, check_steps=5, validation_data=(x, y))
    assert_same_state(before, model)
    scores = [c.score for c in found.candidates if np.isfinite(c.score)]
    assert len(set(np.round(scores, 6))) == len(scores) >= 2  # each at its own rate, not one rate for all
    assert model.steps_per_execution == options.get("steps_per_execution", 1)
    if "optimizer" in options:
        assert schedule_of(model.optimizer) is schedule_of(options["optimizer"])  # the schedule, or none, is back
