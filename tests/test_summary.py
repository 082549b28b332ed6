"""polykeras.summary, and TensorFlow's own summaries: scalars written from inside a model land in the run's
`train/` and `validation/` folders, read back from the event files; compiled with XLA on TensorFlow and JAX."""

import keras
import numpy as np
import pytest
from helpers import BACKEND, read_run

import polykeras
from polykeras import summary


class InputMean(keras.layers.Layer):
    """Passes its input on, and writes its mean from inside the compiled step."""

    def call(self, x):
        summary.scalar("inside/input_mean", keras.ops.mean(x))
        return x


def _model(jit_compile):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), InputMean(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("jit_compile", [True, False] if BACKEND != "torch" else [False])
def test_a_layers_scalars_land_in_train_and_validation_as_each_epochs_mean(tmp_path, jit_compile):
    """Training batches are all 1, then all 3, then all 1 again (two a epoch); validation's are 5; the fixed
    batch's, which the callback computes on each epoch, are 7 and must not count."""

    def batches():
        while True:
            for value in (1.0, 1.0, 3.0, 3.0):
                yield np.full((16, 2), value, "float32"), np.zeros((16, 1), "float32")

    model = _model(jit_compile)
    fixed = (np.full((8, 2), 7.0, "float32"), np.zeros((8, 1), "float32"))
    validation = (np.full((16, 2), 5.0, "float32"), np.zeros((16, 1), "float32"))
    callback = polykeras.TensorBoard(tmp_path, data=fixed, histogram_freq=1)
    model.fit(batches(), steps_per_epoch=2, epochs=3, validation_data=validation, callbacks=[callback], verbose=0)
    train = read_run(tmp_path / "train")["inside/input_mean"]
    validation = read_run(tmp_path / "validation")["inside/input_mean"]
    assert [(step, float(v)) for step, v in train] == [(1, 1.0), (2, 3.0), (3, 1.0)]
    assert [(step, float(v)) for step, v in validation] == [(1, 5.0), (2, 5.0), (3, 5.0)]
    assert summary.take() == {}  # everything was taken by the callback


def test_without_validation_every_value_is_trainings_and_nothing_leaks_between_fits(tmp_path):
    model = _model(jit_compile="auto")
    x, y = np.full((32, 2), 4.0, "float32"), np.zeros((32, 1), "float32")
    model.predict(np.full((4, 2), 9.0, "float32"), verbose=0)  # before fit: not this fit's
    model.fit(x, y, epochs=2, verbose=0, callbacks=[polykeras.TensorBoard(tmp_path, histogram_freq=0)])
    values = read_run(tmp_path / "train")["inside/input_mean"]
    assert [(step, float(v)) for step, v in values] == [(1, 4.0), (2, 4.0)]
    assert not (tmp_path / "validation").exists()


@pytest.mark.tensorflow
@pytest.mark.parametrize("update_freq", ["epoch", 2])
def test_tensorflows_own_summaries_from_a_layer_and_a_train_step_land_as_with_kerass_callback(tmp_path, update_freq):
    import tensorflow as tf

    class Native(keras.layers.Layer):
        def call(self, x):
            tf.summary.scalar("native/input_mean", tf.reduce_mean(x))
            return x

    class Stepping(keras.Sequential):
        def train_step(self, data):
            logs = super().train_step(data)
            tf.summary.scalar("native/step_loss", logs["loss"])
            return logs

    keras.utils.set_random_seed(0)
    model = Stepping([keras.Input((2,)), Native(name="native"), keras.layers.Dense(1)], name="stepping")
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)  # summary ops are not XLA's
    x, y = np.ones((64, 2), "float32"), np.zeros((64, 1), "float32")
    validation = (np.full((16, 2), 3.0, "float32"), np.zeros((16, 1), "float32"))
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        validation_data=validation,
        verbose=0,
        callbacks=[polykeras.TensorBoard(tmp_path, histogram_freq=0, update_freq=update_freq)],
    )
    # TensorFlow names a summary inside the layer's name scopes (`stepping_1/native_1/native/input_mean`), as with
    # Keras's callback: the last two parts name it here.
    train, checked = (
        {"/".join(tag.split("/")[-2:]): values for tag, values in read_run(tmp_path / part).items()}
        for part in ("train", "validation")
    )
    every = 1 if update_freq == "epoch" else 2
    # 4 steps an epoch. The layer writes before the step's update, at the step count before it; the train_step after.
    assert [step for step, _ in train["native/input_mean"]] == [s for s in range(8) if s % every == 0]
    assert [step for step, _ in train["native/step_loss"]] == [s for s in range(1, 9) if s % every == 0]
    assert {float(v) for _, v in train["native/input_mean"]} == {1.0}
    assert {float(v) for _, v in checked["native/input_mean"]} == {3.0} and "native/step_loss" not in checked
    assert [step for step, _ in checked["evaluation_loss_vs_iterations"]] == [4, 8]  # polykeras's own, beside them
