"""The distortions' geometry, on blobs and against NumPy's linear interpolation; deskewing on slanted strokes."""

import math

import keras
import numpy as np
import pytest

from polykeras.augment import Deskew, RandomAffine, _resample, _upsampling, distort, elastic_field

SIZE = 28
CENTRE = (SIZE - 1) / 2
ROWS, COLUMNS = np.mgrid[0:SIZE, 0:SIZE].astype("float32")


def blob(x, y, sigma=1.5):
    """A Gaussian spot centred on column x, row y."""
    return np.exp(-((COLUMNS - x) ** 2 + (ROWS - y) ** 2) / (2 * sigma**2)).astype("float32")


def centroid(image):
    image = np.asarray(image, np.float64)
    return float((image * COLUMNS).sum() / image.sum()), float((image * ROWS).sum() / image.sum())


def per_image(*values):
    return [np.full((len(values[0]), 1, 1), 0, "float32") + np.asarray(v, "float32")[:, None, None] for v in values]


@pytest.mark.parametrize("angle", [-0.3, -0.1, 0.1, 0.3])
def test_distort_rotates_about_the_centre_by_the_angle(angle):
    start = np.array([20.0, 9.0])
    moved = CENTRE + np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ (
        start - CENTRE
    )
    out = np.asarray(distort(blob(*start)[None], *per_image([angle], [1.0], [0.0], [0.0])))[0]
    np.testing.assert_allclose(centroid(out), moved, atol=0.05)
    assert out.sum() == pytest.approx(blob(*start).sum(), rel=0.02)  # a rotation keeps the ink


def test_distort_zooms_about_the_centre_and_shifts_against_the_shift():
    start = np.array([20.0, 8.0])
    images = np.stack([blob(*start)] * 3)
    angle, scale, shift_x, shift_y = per_image([0, 0, 0], [1.25, 0.8, 1.0], [0, 0, 2.5], [0, 0, -3.0])
    out = np.asarray(distort(images, angle, scale, shift_x, shift_y))
    np.testing.assert_allclose(centroid(out[0]), CENTRE + (start - CENTRE) / 1.25, atol=0.05)
    np.testing.assert_allclose(centroid(out[1]), CENTRE + (start - CENTRE) / 0.8, atol=0.05)
    np.testing.assert_allclose(centroid(out[2]), start - [2.5, -3.0], atol=0.05)


def zero_padded_interpolation(row, source):
    """NumPy's linear interpolation of one row, with a zero beyond each end."""
    return np.interp(source, np.arange(-1, len(row) + 1), np.concatenate([[0.0], row, [0.0]]))


@pytest.mark.parametrize("axis", [2, 1], ids=["rows", "columns"])
def test_each_resampling_pass_is_linear_interpolation_with_zeros_outside(axis):
    rng = np.random.default_rng(0)
    images = rng.random((3, SIZE, SIZE - 4)).astype("float32")  # not square: rows and columns cannot be confused
    source = rng.uniform(-3, SIZE + 2, images.shape).astype("float32")  # some outside, some within a pixel of an end
    source[0, 0, :4] = [-1.0, -0.5, SIZE - 4, 1e9]
    out = np.asarray(_resample(images, source, axis))
    lines = images if axis == 2 else images.transpose(0, 2, 1)
    sources = source if axis == 2 else source.transpose(0, 2, 1)
    expected = np.array(
        [
            [zero_padded_interpolation(line, at) for line, at in zip(image, where, strict=True)]
            for image, where in zip(lines, sources, strict=True)
        ]
    )
    np.testing.assert_allclose(out, expected if axis == 2 else expected.transpose(0, 2, 1), atol=2e-6)


def test_the_elastic_field_is_the_coarse_grid_upsampled_bilinearly():
    rng = np.random.default_rng(1)
    coarse = rng.uniform(-1.5, 1.5, (2, 4, 4, 2)).astype("float32")
    field_x, field_y = (np.asarray(f) for f in elastic_field(coarse, SIZE, SIZE))
    # At the corners it is the grid's corner values; in between it never leaves the grid's range.
    np.testing.assert_allclose(
        field_x[:, [0, 0, -1, -1], [0, -1, 0, -1]], coarse[:, [0, 0, -1, -1], [0, -1, 0, -1], 0], atol=1e-6
    )
    np.testing.assert_allclose(field_y[:, [0, -1], [-1, 0]], coarse[:, [0, -1], [-1, 0], 1], atol=1e-6)
    assert np.abs(field_x).max() <= np.abs(coarse[..., 0]).max() + 1e-6
    # Smooth: neighbouring pixels differ by at most the grid's largest step over its spacing in pixels.
    spacing = (SIZE - 1) / 3
    assert np.abs(np.diff(field_x, axis=2)).max() <= 3.0 / spacing + 1e-5
    matrix = _upsampling(4, SIZE)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)


def test_an_elastic_field_moves_each_pixel_by_its_own_displacement():
    """With no rotation, zoom or shift, a uniform field is a shift: content moves by minus it."""
    coarse = np.zeros((1, 4, 4, 2), "float32")
    coarse[..., 0], coarse[..., 1] = 1.5, -1.0
    start = np.array([12.0, 15.0])
    out = np.asarray(
        distort(blob(*start)[None], *per_image([0.0], [1.0], [0.0], [0.0]), field=elastic_field(coarse, SIZE, SIZE))
    )[0]
    np.testing.assert_allclose(centroid(out), start - [1.5, -1.0], atol=0.05)


def test_random_affine_stays_within_its_ranges_and_only_in_training():
    images = np.stack([blob(22.0, CENTRE)] * 64)
    layer = RandomAffine(rotation=0.03, zoom=0.08, translation=0.08, seed=3)
    out = keras.ops.convert_to_numpy(layer(images, training=True))
    radius = [np.hypot(*(np.array(centroid(o)) - CENTRE)) for o in out]
    distance = 22.0 - CENTRE
    # Zoom 92-108 % and a shift up to 8 % of 28 px in each direction move it at most this far from the start.
    reach = distance * (1 / 0.92 - 1) + math.hypot(0.08 * SIZE, 0.08 * SIZE)
    moved = [np.hypot(*(np.array(centroid(o)) - [22.0, CENTRE])) for o in out]
    assert max(moved) <= reach + 2 * math.pi * 0.03 * distance + 0.1
    assert np.std(radius) > 0.3 and len(set(np.round(moved, 6))) == 64  # each image its own distortion
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)


def slanted_stroke(lean):
    """A one-pixel stroke from row 4 to row 23 leaning `lean` columns per row, through column 14 at the centre."""
    image = np.zeros((SIZE, SIZE), "float32")
    for row in range(4, 24):
        image[row, round(14 + lean * (row - CENTRE))] = 1.0
    return image


@pytest.mark.parametrize("lean", [-0.4, 0.25, 0.5])
def test_deskew_makes_a_slanted_stroke_vertical_and_centres_it(lean):
    upright = np.asarray(Deskew()(slanted_stroke(lean)[None]))[0]
    rows = np.flatnonzero(upright.sum(axis=1) > 0.5)
    per_row = (upright[rows] * np.arange(SIZE)).sum(axis=1) / upright[rows].sum(axis=1)
    slope = np.polyfit(rows, per_row, 1)[0]  # columns per row: `lean` before
    assert abs(slope) < 0.03
    assert centroid(upright)[0] == pytest.approx(CENTRE, abs=0.1)
    assert upright.sum() == pytest.approx(20.0, rel=0.02)


def test_deskew_leaves_an_upright_centred_digit_alone():
    image = blob(CENTRE, CENTRE, sigma=3.0)
    np.testing.assert_allclose(np.asarray(Deskew()(image[None]))[0], image, atol=1e-4)


def test_both_layers_round_trip_through_a_saved_model(tmp_path):
    inputs = keras.Input((SIZE, SIZE))
    model = keras.Model(inputs, RandomAffine(elastic=1.5, seed=0)(Deskew()(inputs)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    image = slanted_stroke(0.3)[None]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(image)), keras.ops.convert_to_numpy(model(image)), atol=1e-6
    )
    assert loaded.layers[2].get_config()["elastic"] == 1.5
