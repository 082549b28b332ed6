"""The `Polynomial` layer: coefficients that start at zero and are learned by an optimizer.

The layer evaluates `y = sum_k c_k * phi_k(t)` where `t` maps the data's x-range
onto the window [-1, 1] (as `numpy.polynomial`'s domain/window do) and `phi_k`
is a polynomial basis. Only the coefficients `c_k` are trainable; the domain and
the basis transform are non-trainable variables that `adapt` sets from the data,
which is how Keras (like TF1's `trainable=False`) keeps the optimizer away from
them: `model.trainable_weights` lists exactly the coefficients.
"""

import functools
import math

import keras
import numpy as np
from keras import ops
from numpy.polynomial import chebyshev, legendre
from numpy.polynomial import polynomial as power

from polykeras.checks import check_int
from polykeras.errors import InvalidArgumentError

BASES = ("legendre", "chebyshev", "monomial")
MAX_DEGREE = 20
# Points per chunk of a streamed float64 pass over the data (`Polynomial.r_factor`, `check_distinct`).
CHUNK = 1 << 17

# Turns the basis coefficients (on the window) into power-series coefficients.
_TO_POWER_SERIES = {
    "legendre": legendre.leg2poly,
    "chebyshev": chebyshev.cheb2poly,
    "monomial": lambda c: c,
}


def check_degree(degree):
    """Raises `ValueError` unless `degree` is an integer in [0, MAX_DEGREE]."""
    check_int(degree, "degree", at_least=0, at_most=MAX_DEGREE)


def check_basis(basis):
    """Raises `ValueError` unless `basis` is one of `BASES`."""
    if basis not in BASES:
        raise InvalidArgumentError(f"basis must be one of {', '.join(BASES)}. Received: basis={basis!r}")


def basis_scale(basis, degree):
    """Constants that make each basis function have unit mean square on [-1, 1].

    Normalised Legendre polynomials `sqrt(2k + 1) P_k` are orthonormal for x
    spread uniformly over the window; normalised Chebyshev polynomials
    (`T_0`, `sqrt(2) T_k`) are orthonormal under the Chebyshev weight.

    Returns:
        A float64 array of shape `(degree + 1,)`.
    """
    k = np.arange(degree + 1, dtype=np.float64)
    if basis == "legendre":
        return np.sqrt(2.0 * k + 1.0)
    if basis == "chebyshev":
        return np.where(k == 0, 1.0, np.sqrt(2.0))
    return np.ones_like(k)


@keras.saving.register_keras_serializable(package="polykeras")
class Polynomial(keras.layers.Layer):
    """A polynomial of one variable whose coefficients are trainable weights.

    The coefficients start at zero (configurable); an optimizer driven by
    `compile`/`fit` moves them to the values that fit the data. Call
    `adapt(x)` before training to map the data's x-range onto [-1, 1] and,
    for the orthogonal bases, to orthonormalise the basis on the data. On an
    orthonormal basis the mean-squared-error loss has the Hessian `2 * I`,
    so plain gradient descent converges in a handful of epochs whatever the
    range or spread of x; on the raw monomial basis (the seed program's) it
    needs tens of thousands of steps.

    Args:
        degree: Integer from 0 to 20, the polynomial's degree.
        basis: `"legendre"` (default), `"chebyshev"` or `"monomial"`.
        orthonormalize: Whether `adapt` also makes the basis orthonormal on
            the data (the discrete orthogonal polynomials of the sample,
            computed in float64 from the chosen basis). Defaults to `True`
            for `legendre` and `chebyshev`, `False` for `monomial`.
        coefficients_initializer: Initializer of the coefficients.
            Defaults to `"zeros"`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        `(batch,)` or `(batch, 1)`.

    Output shape:
        The same as the input.

    Example:

    >>> layer = Polynomial(degree=2, basis="monomial")
    >>> layer.build((None,))
    >>> _ = layer.basis_coefficients.assign([1.0, 2.0, 3.0])
    >>> float(layer(np.array([2.0]))[0])
    17.0
    """

    def __init__(
        self,
        degree,
        basis="legendre",
        orthonormalize=None,
        coefficients_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_degree(degree)
        check_basis(basis)
        if orthonormalize is not None and not isinstance(orthonormalize, bool):
            raise InvalidArgumentError(
                f"orthonormalize must be True, False or None. Received: orthonormalize={orthonormalize!r}"
            )
        self.degree = int(degree)
        self.basis = basis
        self.orthonormalize = basis != "monomial" if orthonormalize is None else orthonormalize
        self.coefficients_initializer = keras.initializers.get(coefficients_initializer)

    def build(self, input_shape):
        if len(input_shape) not in (1, 2) or (len(input_shape) == 2 and input_shape[-1] != 1):
            raise InvalidArgumentError(
                f"Polynomial expects inputs of shape (batch,) or (batch, 1). Received: input_shape={tuple(input_shape)}"
            )
        size = self.degree + 1
        self.basis_coefficients = self.add_weight(
            name="coefficients",
            shape=(size,),
            initializer=self.coefficients_initializer,
            trainable=True,
        )
        self.domain_min = self.add_weight(
            name="domain_min", shape=(), initializer=keras.initializers.Constant(-1.0), trainable=False
        )
        self.domain_max = self.add_weight(
            name="domain_max", shape=(), initializer=keras.initializers.Constant(1.0), trainable=False
        )
        if self.orthonormalize:
            self.basis_transform = self.add_weight(
                name="basis_transform", shape=(size, size), initializer="identity", trainable=False
            )

    def _features(self, t, xp=ops):
        """The scaled basis functions at `t` (window units), shape `(batch, degree + 1)`.

        `xp` is `keras.ops` in the model and `numpy` for the float64 passes over the data.
        """
        columns = [xp.ones_like(t)]
        if self.degree >= 1:
            columns.append(t)
        for k in range(1, self.degree):
            if self.basis == "legendre":
                nxt = ((2 * k + 1) * t * columns[k] - k * columns[k - 1]) / (k + 1)
            elif self.basis == "chebyshev":
                nxt = 2.0 * t * columns[k] - columns[k - 1]
            else:
                nxt = t * columns[k]
            columns.append(nxt)
        scale = basis_scale(self.basis, self.degree)
        return xp.stack([c * float(s) if s != 1.0 else c for c, s in zip(columns, scale, strict=True)], axis=-1)

    def _to_window(self, x):
        return (2.0 * x - (self.domain_min + self.domain_max)) / (self.domain_max - self.domain_min)

    def call(self, inputs, features=False):
        """Evaluates the polynomial at `inputs`.

        With `features=True`, `inputs` are rows of basis features, shape
        `(batch, degree + 1)`, such as the rows of `r_factor`, instead of x.
        """
        coefficients = self.basis_coefficients
        if self.orthonormalize:
            coefficients = _matvec(self.basis_transform, coefficients)
        if features:
            return _matvec(ops.cast(inputs, self.compute_dtype), coefficients)
        x = ops.cast(inputs, self.compute_dtype)
        column = len(x.shape) == 2
        if column:
            x = ops.squeeze(x, axis=-1)
        y = _matvec(self._features(self._to_window(x)), coefficients)
        return ops.expand_dims(y, axis=-1) if column else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def adapt(self, x):
        """Sets the domain (and orthonormal basis) from the training inputs.

        Maps `[min(x), max(x)]` onto [-1, 1]; for an orthonormalised basis
        also sets `basis_transform` so that the basis functions are
        orthonormal on `x` (their mean products over `x` form the identity).
        Call it before training: it does not change the coefficients.

        Args:
            x: Array-like of finite numbers, shape `(n,)` or `(n, 1)`, with at
                least `degree + 1` distinct values.

        Example:

        >>> layer = Polynomial(degree=1)
        >>> layer.adapt(np.array([0.0, 5.0, 10.0]))
        >>> [float(layer.domain_min), float(layer.domain_max)]
        [0.0, 10.0]
        """
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        check_distinct(x, self.degree)
        if not self.built:
            self.build((None,))
        self.domain_min.assign(float(x.min()))
        self.domain_max.assign(float(x.max()))
        if self.orthonormalize:
            # features / sqrt(n) = Q R with orthonormal Q, so features @ inv(R)
            # has mean products equal to the identity.
            self.basis_transform.assign(np.linalg.inv(self.r_factor(x)))

    def r_factor(self, x, y=None):
        """The R of a QR decomposition of `[features(x) | y] / sqrt(n)`, in float64, in one streamed pass.

        The basis features (before `basis_transform`) of all points are never
        held at once: chunks of `CHUNK` points add to the Gram matrix
        `[F | y]^T [F | y] / n`, whose Cholesky factor is R. Memory stays
        O(CHUNK * degree) and time O(n * degree**2). The Gram matrix squares
        the features' condition number, which on the window [-1, 1] stays
        small for the orthogonal bases; if it is too ill-conditioned for
        Cholesky, a Householder QR of the chunks (slower, as stable as
        `numpy.linalg.lstsq`) takes over. For a linear model R holds
        everything about the data that the mean squared error needs:
        `mean((features(x) @ c - y)**2) == |R @ [c, -1]|**2`.

        Args:
            x: Inputs, shape `(n,)`, inside the domain set by `adapt`.
            y: Targets, shape `(n,)`, appended as a last column if given.

        Returns:
            An upper-triangular float64 array, `(degree + 1, degree + 1)`, or
            one row and column more with `y`.

        Example:

        >>> layer = Polynomial(degree=1, orthonormalize=False)
        >>> layer.adapt(np.array([-1.0, 1.0]))
        >>> np.abs(layer.r_factor(np.array([-1.0, 1.0]))).round(6).tolist()  # Legendre: 1 and sqrt(3) x
        [[1.0, 0.0], [0.0, 1.732051]]
        """
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        size = self.degree + 1 + (y is not None)
        gram = np.zeros((size, size))
        for block in self._blocks(x, y):
            gram += block.T @ block
        try:
            return np.linalg.cholesky(gram / len(x)).T
        except np.linalg.LinAlgError:  # too ill-conditioned for the normal equations
            r = np.zeros((0, size))
            for block in self._blocks(x, y):
                r = np.linalg.qr(np.vstack([r, block]), mode="r")
            full = np.zeros((size, size))
            full[: len(r)] = r  # fewer points than columns leave zero rows
            return full / np.sqrt(len(x))

    def _blocks(self, x, y):
        """`[features | y]` for successive chunks of `CHUNK` points."""
        lo, hi = float(self.domain_min), float(self.domain_max)
        for start in range(0, len(x), CHUNK):
            block = self._features((2.0 * x[start : start + CHUNK] - (lo + hi)) / (hi - lo), np)
            if y is not None:
                block = np.column_stack([block, np.asarray(y[start : start + CHUNK], dtype=np.float64)])
            yield block

    def polynomial(self):
        """The learned polynomial as a `numpy.polynomial.Polynomial` in float64.

        It keeps the domain mapping, so evaluating it is as accurate as the
        layer itself, even for x far from zero.

        Returns:
            `numpy.polynomial.Polynomial` with `domain=[domain_min, domain_max]`.
        """
        c = ops.convert_to_numpy(self.basis_coefficients).astype(np.float64)
        if self.orthonormalize:
            c = ops.convert_to_numpy(self.basis_transform).astype(np.float64) @ c
        in_window = _TO_POWER_SERIES[self.basis](c * basis_scale(self.basis, self.degree))
        domain = [float(self.domain_min), float(self.domain_max)]
        return power.Polynomial(in_window, domain=domain, window=[-1.0, 1.0])

    def power_basis_matrix(self):
        """The float64 matrix `M` with `coefficients() == M @ basis_coefficients`.

        The map from the trainable coefficients to power-basis coefficients in
        original units is linear and depends only on the non-trainable
        variables, so it can be computed once and reused while training.

        Returns:
            float64 array of shape `(degree + 1, degree + 1)`.
        """
        size = self.degree + 1
        transform = np.eye(size)
        if self.orthonormalize:
            transform = ops.convert_to_numpy(self.basis_transform).astype(np.float64)
        lo, hi = float(self.domain_min), float(self.domain_max)
        # t = shift + slope * x maps the domain onto the window, and t**k = sum_i C(k, i) shift**(k-i) slope**i x**i.
        slope, shift = 2.0 / (hi - lo), -(lo + hi) / (hi - lo)
        substitution = np.array(
            [
                [math.comb(k, i) * shift ** (k - i) * slope**i if k >= i else 0.0 for k in range(size)]
                for i in range(size)
            ]
        )
        return substitution @ _window_power_series(self.basis, self.degree) @ transform

    def coefficients(self):
        """The polynomial's coefficients in the power basis and original x units.

        Returns:
            float64 array of shape `(degree + 1,)`, lowest degree first
            (`numpy.polynomial`'s order): `y = c[0] + c[1] x + c[2] x**2 + ...`.
        """
        return pad_coefficients(self.polynomial().convert().coef, self.degree)

    def get_config(self):
        return {
            **super().get_config(),
            "degree": self.degree,
            "basis": self.basis,
            "orthonormalize": self.orthonormalize,
            "coefficients_initializer": keras.initializers.serialize(self.coefficients_initializer),
        }


def _matvec(matrix, vector):
    """`matrix @ vector` in their own dtype: `ops.matmul` returns float32 for float64 on PyTorch (Keras's type
    promotion turns 64-bit results into 32-bit ones there), `ops.einsum` keeps float64 on every backend."""
    return ops.einsum("ij,j->i", matrix, vector)


@functools.cache
def _window_power_series(basis, degree):
    """Column k: the power series in t (window units) of the k-th scaled basis function."""
    scale = basis_scale(basis, degree)
    columns = [
        pad_coefficients(_TO_POWER_SERIES[basis](np.eye(degree + 1)[k] * scale[k]), degree) for k in range(degree + 1)
    ]
    matrix = np.stack(columns, axis=1)
    matrix.flags.writeable = False
    return matrix


def pad_coefficients(coef, degree):
    """Pads (numpy may trim trailing zeros) power-series coefficients to `degree + 1`."""
    out = np.zeros(degree + 1, dtype=np.float64)
    out[: len(coef)] = coef
    return out


def check_distinct(x, degree):
    """Raises `ValueError` unless `x` is finite with at least `degree + 1` distinct values."""
    if not np.all(np.isfinite(x)):
        bad = x[~np.isfinite(x)][0]
        raise InvalidArgumentError(f"x must be finite. Received: a value of {bad} in x")
    # Distinct values counted chunk by chunk, stopping once there are enough: no sort of all of x.
    seen = np.empty(0)
    for start in range(0, len(x), CHUNK):
        seen = np.unique(np.concatenate([seen, x[start : start + CHUNK]]))
        if len(seen) >= max(2, degree + 1):
            return
    distinct = len(seen)
    if distinct < 2:
        shown = f"x={float(x[0])} everywhere" if len(x) else "no points"
        raise InvalidArgumentError(f"x must not be constant (needs at least 2 distinct values). Received: {shown}")
    if distinct < degree + 1:
        raise InvalidArgumentError(
            f"a degree-{degree} polynomial needs at least {degree + 1} distinct x values. Received: {distinct}"
        )


def relative_gap(learned, reference):
    """`||learned - reference|| / ||reference||` (the norm of the difference if the reference is 0)."""
    diff = float(np.linalg.norm(np.asarray(learned) - np.asarray(reference)))
    norm = float(np.linalg.norm(reference))
    return diff / norm if norm > 0 else diff
