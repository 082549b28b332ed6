"""Random affine and elastic distortions of digits, and deskewing, written so that every backend runs them fast.

Keras's `RandomTranslation`, `RandomRotation` and `RandomZoom` resample with a
gather per pixel (`affine_transform`); under `jax.jit` on a CPU that costs
about 20 times the MLP's own step. `RandomAffine` does the same kind of
distortion (a small rotation, a zoom and a shift per image) as three
one-dimensional resampling passes (the rotation split into three shears, as
in Paeth's method), each a linear interpolation between two neighbours along
one axis, taken with two one-dimensional gathers from the flattened image.
Only `keras.ops`: on this 2-core CPU, with `train-mnist`'s default callbacks,
the augmented epoch costs 1.4x the plain one on TensorFlow and 1.03x on JAX
(`benchmarks/augmentation_cost.py`; it was 9x on JAX with Keras's layers).

Example:

>>> import numpy as np
>>> layer = RandomAffine(rotation=0.03, zoom=0.08, translation=0.08, seed=1)
>>> images = np.random.default_rng(0).random((2, 28, 28)).astype("float32")
>>> bool(np.allclose(layer(images, training=False), images))  # only training distorts
True
>>> tuple(layer(images, training=True).shape)
(2, 28, 28)
"""

import math

import keras
import numpy as np
from keras import ops

from polykeras import backend
from polykeras.checks import check_int, check_number


@keras.saving.register_keras_serializable(package="polykeras")
class RandomAffine(keras.layers.Layer):
    """Rotates, zooms and shifts each image by a random amount, in training only.

    Args:
        rotation: Largest rotation, as a fraction of a full turn (0.03 is
            about 10.8 degrees either way), like `RandomRotation`'s factor.
        zoom: Largest zoom in or out, as a fraction (0.08: 92 % to 108 %).
        translation: Largest shift, as a fraction of the height and width.
        elastic: Largest elastic displacement, in pixels (0 for none). As in
            Simard et al. (2003), pixels move along a smooth random field:
            here a random `elastic_grid x elastic_grid` field of horizontal
            and of vertical shifts, upsampled bilinearly and added to the
            first and second passes, so it costs no resampling of its own.
        elastic_grid: Side of the coarse random field; smaller is smoother.
        seed: Seed of the distortions.
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        `(batch, height, width)`, pixels as floats; the area moved in from
        outside the image is 0.

    Output shape:
        The same as the input.
    """

    def __init__(self, rotation=0.03, zoom=0.08, translation=0.08, elastic=0.0, elastic_grid=4, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("rotation", rotation), ("zoom", zoom), ("translation", translation)):
            check_number(value, name, at_least=0, below=0.5)
        check_number(elastic, "elastic", at_least=0, at_most=8)  # pixels
        check_int(elastic_grid, "elastic_grid", at_least=2)
        self.rotation = float(rotation)
        self.zoom = float(zoom)
        self.translation = float(translation)
        self.elastic = float(elastic)
        self.elastic_grid = elastic_grid
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        images = ops.cast(inputs, self.compute_dtype)
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]

        def uniform(limit):
            return keras.random.uniform(
                (batch, 1, 1), -limit, limit, dtype=self.compute_dtype, seed=self.seed_generator
            )

        angle = uniform(2 * math.pi * self.rotation)
        scale = 1.0 / (1.0 + uniform(self.zoom))  # the source step per output pixel
        shift_x, shift_y = uniform(self.translation * width), uniform(self.translation * height)
        field = None
        if self.elastic:
            coarse = keras.random.uniform(
                (batch, self.elastic_grid, self.elastic_grid, 2),
                -self.elastic,
                self.elastic,
                dtype=self.compute_dtype,
                seed=self.seed_generator,
            )
            field = elastic_field(coarse, height, width)
        return _fused_distort(images, angle, scale, shift_x, shift_y, field)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "zoom": self.zoom,
            "translation": self.translation,
            "elastic": self.elastic,
            "elastic_grid": self.elastic_grid,
            "seed": self.seed,
        }


def distort(images, angle, scale, shift_x, shift_y, field=None):
    """Rotates, zooms and shifts each image with three one-dimensional linear resamplings (Paeth's three shears).

    In pixel coordinates (x the column, y the row, c the centre), content at
    `p` moves to about `c + R(angle) (p - c) / scale - shift`: `R` turns
    from the x axis toward the y axis (clockwise as drawn, row 0 on top).
    The rotation is an x-shear by `tan(angle / 2)`, a y-shear by
    `-sin(angle)` and the x-shear again, exact up to the interpolation; the
    zoom rides on the first two, so it is isotropic to within `angle`'s
    order. Sources outside the image are 0, faded over one pixel.

    Args:
        images: `(batch, height, width)` floats.
        angle, scale, shift_x, shift_y: Per image, shaped `(batch, 1, 1)`:
            radians, source pixels per output pixel, pixels.
        field: `(field_x, field_y)` from `elastic_field`, added to the source
            positions of the first two resamplings, or None.

    Returns:
        The distorted images, shaped as `images`.
    """
    field_x, field_y = field if field is not None else (0.0, 0.0)
    shear_x, shear_y = ops.tan(angle / 2), -ops.sin(angle)
    x, y, centre_x, centre_y = _grid(images)
    images = _resample(images, centre_x + (x - centre_x) * scale + shear_x * (y - centre_y) + shift_x + field_x, 2)
    images = _resample(images, centre_y + (y - centre_y) * scale + shear_y * (x - centre_x) + shift_y + field_y, 1)
    return _resample(images, x + shear_x * (y - centre_y), 2)


def elastic_field(coarse, height, width):
    """Simard et al.'s smooth random displacement: a coarse `(batch, n, n, 2)` grid, upsampled bilinearly.

    Returns:
        `(field_x, field_y)`: the horizontal and the vertical shifts, each
        `(batch, height, width)`.
    """
    nodes = coarse.shape[1]
    down, across = _upsampling(nodes, height), _upsampling(nodes, width)
    field = ops.einsum("hi,bijc,wj->cbhw", down, coarse, across)
    return field[0], field[1]


def _upsampling(nodes, size):
    """The `(size, nodes)` matrix of linear interpolation from `nodes` evenly spread values to `size`."""
    position = np.linspace(0, nodes - 1, size)
    left = np.minimum(np.floor(position), nodes - 2).astype(int)
    matrix = np.zeros((size, nodes), "float32")
    matrix[np.arange(size), left] = 1 - (position - left)
    matrix[np.arange(size), left + 1] = position - left
    return matrix


def _grid(images):
    """`(x, y, centre_x, centre_y)`: each pixel's column `(width,)` and row `(height, 1)`, and the image's centre."""
    height, width = images.shape[1], images.shape[2]
    x = ops.arange(width, dtype=images.dtype)
    y = ops.arange(height, dtype=images.dtype)[:, None]
    return x, y, (width - 1) / 2, (height - 1) / 2


def _resample(images, source, axis):
    """Every row (`axis` 2) or column (`axis` 1) linearly interpolated at `source`; sources outside give 0.

    Output pixel `(y, x)` of a row pass takes row y at column `source[b, y, x]`
    (of a column pass, column x at row `source[b, y, x]`), from its two
    nearest pixels, the image padded with zeros. The two taps are two
    one-dimensional gathers from the flattened image (`ops.take`): on a CPU
    they cost far less than `take_along_axis` and any transpose.
    """
    batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
    length = width if axis == 2 else height
    pad = [(0, 0), (0, 0), (0, 0)]
    pad[axis] = (1, 2)  # a zero before and two after: both taps of any clipped position are in range
    flat = ops.reshape(ops.pad(images, pad), (-1,))
    position = ops.clip(source + 1.0, 0.0, length + 1.0)  # in the padded line: 0 and length + 1 are zeros
    left = ops.floor(position)
    fraction = position - left
    left = ops.cast(left, "int32")
    if axis == 2:  # (b, y, x) -> b * H * (W + 3) + y * (W + 3) + left
        line = ops.arange(batch * height, dtype="int32")
        index = ops.reshape(line, (-1, height, 1)) * (width + 3) + left
        step = 1
    else:  # (b, y, x) -> (b * (H + 3) + left) * W + x
        image = ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1, 1))
        index = (image * (height + 3) + left) * width + ops.arange(width, dtype="int32")
        step = width
    first = ops.take(flat, index)
    return first + (ops.take(flat, index + step) - first) * fraction


@keras.saving.register_keras_serializable(package="polykeras")
class Deskew(keras.layers.Layer):
    """Straightens each digit: shears it so that its principal axis is vertical.

    The slant is measured from the image's own second moments (the
    covariance of the ink's row and column, over the row's variance) and
    undone with one horizontal shear through the ink's centre of mass, which
    is then moved to the image's centre. It is part of the model, so it runs
    in training and in inference alike: deskewing is what LeCun et al.'s
    MNIST table shows helping fully connected networks most.

    Args:
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        `(batch, height, width)`, pixels as non-negative floats.

    Output shape:
        The same as the input.

    Example:

    >>> import numpy as np
    >>> slanted = np.zeros((1, 28, 28), "float32")
    >>> for row in range(4, 24):
    ...     slanted[0, row, 8 + row // 2] = 1.0  # a stroke leaning right
    >>> upright = np.asarray(Deskew()(slanted))[0]
    >>> columns = np.argmax(upright[4:24], axis=1)
    >>> int(columns.max() - columns.min()) <= 1  # now one vertical line
    True
    """

    def call(self, inputs):
        return _fused_deskew(ops.cast(inputs, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return input_shape


def deskew(images):
    """`Deskew`'s computation on `(batch, height, width)` floats."""
    columns, rows, centre_x, _centre_y = _grid(images)
    total = ops.sum(images, axis=(1, 2), keepdims=True) + 1e-6

    def mean(values):
        return ops.sum(images * values, axis=(1, 2), keepdims=True) / total

    centre_row, centre_column = mean(rows), mean(columns)
    variance = mean((rows - centre_row) ** 2)
    covariance = mean((rows - centre_row) * (columns - centre_column))
    slant = covariance / (variance + 1e-6)
    # Row y takes its pixels from x + slant * (y - centre_row) + centre_column - centre_x.
    return _resample(images, columns + slant * (rows - centre_row) + centre_column - centre_x, 2)


# One compiled kernel each on TensorFlow (XLA), where op-by-op execution cost several times the arithmetic.
_fused_distort = backend.fused(distort)
_fused_deskew = backend.fused(deskew)
