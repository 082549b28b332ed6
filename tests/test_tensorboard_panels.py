"""The panels' pieces, computed by hand: tiles, dead units, which layers count as ReLU, image inputs."""

import keras
import numpy as np
import pytest

from polykeras.tensorboard.panels import first_layer_kernel, image_shape, tile_grid, tiles
from polykeras.tensorboard.probe import activation_statistics, is_relu_layer

L = keras.layers


def test_tile_grid_draws_zero_as_grey_and_each_tile_scaled_alone():
    grid = tile_grid(np.zeros((4, 28, 28)), min_pixels=28)
    assert grid.shape == (2 * 29 + 1, 2 * 29 + 1)  # 2 x 2 tiles of 28 px, one px apart
    assert grid[1:29, 1:29].min() == grid[1:29, 1:29].max() == 128
    units = np.stack([np.full((3, 3), -2.0), np.full((3, 3), 0.5)])
    grid = tile_grid(units, min_pixels=3)
    assert grid[1, 1] == 0 and grid[1, 5] == 255  # each tile's largest |w| is black or white


def test_small_tiles_are_enlarged_and_colour_kept():
    grid = tile_grid(np.ones((1, 3, 3, 3)), min_pixels=48)
    assert grid.shape == (5 * 16, 5 * 16, 3)  # one 3 x 3 tile and its 1 px frame, 16 times as large


def test_tiles_of_a_dense_kernel_are_its_columns_as_images():
    layer = L.Dense(2)
    kernel = np.arange(2 * 4 * 3 * 3, dtype=float).reshape(4 * 3 * 3, 2)  # a 4 x 3 colour image, flattened
    drawn = tiles(kernel, layer, (4, 3, 3))
    assert drawn.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(drawn[1], kernel[:, 1].reshape(4, 3, 3))


def test_tiles_of_a_conv_kernel_are_its_filters():
    layer = L.Conv2D(5, 3)
    kernel = np.random.default_rng(0).normal(size=(3, 3, 1, 5))
    drawn = tiles(kernel, layer, (28, 28, 1))
    assert drawn.shape == (5, 3, 3)
    np.testing.assert_array_equal(drawn[4], kernel[:, :, 0, 4])


def _statistics(outputs):
    return [keras.ops.convert_to_numpy(t) for t in activation_statistics(keras.ops.convert_to_tensor(outputs))]


def test_dead_fraction_counts_units_zero_everywhere():
    outputs = np.zeros((5, 2, 2, 4), "float32")
    outputs[3, 1, 0, 1] = 0.1  # one sample at one position keeps unit 1 alive
    outputs[:, :, :, 2] = 1.0
    assert float(_statistics(outputs)[0]) == 0.5


@pytest.mark.parametrize(
    "layer, relu",
    [
        (L.ReLU(), True),
        (L.Activation("relu"), True),
        (L.Dense(3, activation="relu"), True),
        (L.Conv2D(2, 3, activation="relu6"), True),
        (L.Dense(3), False),
        (L.Activation("tanh"), False),
        (L.LeakyReLU(), False),
    ],
)
def test_relu_family(layer, relu):
    assert is_relu_layer(layer) is relu


def test_image_inputs_and_their_first_layer():
    flat = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(4, name="first")])
    assert image_shape(flat, None) == (28, 28, 1) and first_layer_kernel(flat, (28, 28, 1)).name == "first"
    conv = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(2, 3, name="c"), L.Conv2D(2, 3)])
    assert first_layer_kernel(conv, image_shape(conv, None)).name == "c"
    not_image = keras.Sequential([keras.Input((5,)), L.Dense(2)])
    assert image_shape(not_image, None) is None
    four_channels = keras.Sequential([keras.Input((8, 8, 4)), L.Conv2D(2, 3)])
    assert image_shape(four_channels, None) is None


def test_activation_statistics_on_the_device_match_numpy():
    rng = np.random.default_rng(0)
    outputs = np.maximum(rng.normal(size=(6, 4, 4, 8)), 0).astype("float32")
    outputs[..., :3] = 0  # three dead units
    dead, counts, edges = _statistics(outputs)
    assert float(dead) == 3 / 8
    expected_counts, expected_edges = np.histogram(outputs, bins=30)
    np.testing.assert_allclose(edges, expected_edges, rtol=1e-6)
    assert counts.sum() == outputs.size
    np.testing.assert_allclose(counts, expected_counts, atol=2)  # a value on an edge may fall either side
    all_dead = _statistics(np.zeros((4, 5), "float32"))
    assert float(all_dead[0]) == 1.0 and float(all_dead[1].sum()) == 20
