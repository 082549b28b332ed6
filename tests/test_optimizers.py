"""polykeras.optimizers: optimizers by name, copied with another rate, unwrapped, and models compiled again."""

import keras
import pytest

from polykeras.errors import InvalidArgumentError
from polykeras.optimizers import inner_optimizer, make_optimizer, recompile, schedule_of, with_learning_rate


def test_with_learning_rate_keeps_the_optimizer_and_its_settings():
    optimizer = with_learning_rate(keras.optimizers.RMSprop(0.1, rho=0.7), 0.02)
    assert type(optimizer).__name__ == "RMSprop" and optimizer.rho == pytest.approx(0.7)
    assert float(optimizer.learning_rate) == pytest.approx(0.02)
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    kept = with_learning_rate(keras.optimizers.Adam(schedule), 0.05)
    assert schedule_of(kept).initial_learning_rate == pytest.approx(0.05) and schedule_of(kept).decay_steps == 100
    assert schedule_of(with_learning_rate(keras.optimizers.Adam(schedule), 0.05, keep_schedule=False)) is None


def test_a_loss_scale_optimizer_is_unwrapped_and_its_schedule_found():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(schedule))
    assert type(inner_optimizer(wrapped)).__name__ == "SGD" and schedule_of(wrapped) is schedule
    plain = keras.optimizers.SGD(0.1)
    assert inner_optimizer(plain) is plain and schedule_of(plain) is None


def test_an_optimizer_is_made_by_name_or_refused():
    assert type(make_optimizer("adamw", 1e-3)).__name__ == "AdamW"
    with pytest.raises(InvalidArgumentError, match=r"^unknown Keras optimizer. Received: optimizer='adamm'$"):
        make_optimizer("adamm", 1e-3)
    with pytest.raises(InvalidArgumentError, match="learning_rate must be a number > 0"):
        make_optimizer("sgd", 0)


def test_recompile_keeps_the_loss_and_metrics_of_the_model_it_is_like():
    like = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    like.compile(optimizer="adam", loss="mae", metrics=["mse"], steps_per_execution=2)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    recompile(model, keras.optimizers.SGD(0.3), like=like)
    config = model.get_compile_config()
    assert (config["loss"], config["metrics"], config["steps_per_execution"]) == ("mae", ["mse"], 2)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.built
