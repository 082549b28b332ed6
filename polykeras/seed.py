"""The seed program: the TF1 graph-mode polynomial fit polykeras grew from.

This is the program in `shared/seeds/` (six coefficients from `tf.Variable([0.] * 6)`,
`GradientDescentOptimizer(0.01)`, one `sess.run` per step with `feed_dict`), kept
runnable as a reference: tests and benchmarks run it beside polykeras on the same
data. It builds its own `tf.Graph`, so it runs in a process that also uses Keras,
on any backend; it is the only part of polykeras that needs TensorFlow
installed whatever the backend, and TensorFlow is imported when it is called.
"""

import time

import numpy as np

# The one part of polykeras that needs TensorFlow whatever the backend: TF1's graph, session and optimizer.
EXTRA_NEEDED = (
    "the TF1 seed program needs TensorFlow, which polykeras installs with its tensorflow extra: "
    "pip install 'polykeras[tensorflow]'"
)


def tensorflow():
    """TensorFlow, imported now; `ImportError` naming the extra that installs it when it is missing."""
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError(EXTRA_NEEDED) from e
    return tf


def run_seed_program(x, y, num_coeffs=6, learning_rate=0.01, steps=1000, record_every=None):
    """Runs the seed's TF1 training loop and returns what it learned.

    Args:
        x: Inputs, shape `(n,)`.
        y: Targets, shape `(n,)`.
        num_coeffs: Number of monomial coefficients (degree + 1).
        learning_rate: `GradientDescentOptimizer`'s learning rate.
        steps: Number of `sess.run(train_op)` calls.
        record_every: If set, also return the coefficients after every
            `record_every` steps (and at step 0), as a list of `(step, w)`.

    Raises:
        ImportError: when TensorFlow is not installed (`polykeras[tensorflow]`).

    Returns:
        `(coefficients, train_seconds)`: float64 array lowest degree first, and
        the wall time of the training loop alone (graph building and variable
        initialisation excluded); with `record_every`, a third item, the
        recorded trajectory (its reads are included in the time).

    Example:

    >>> x = np.linspace(-1, 1, 100)
    >>> w, seconds = run_seed_program(x, 1 + 2 * x + 3 * x**2, steps=10)
    >>> w.shape
    (6,)
    """
    tf = tensorflow()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        X = v1.placeholder(tf.float32, name="X_input")
        Y = v1.placeholder(tf.float32, name="Y_true")
        w = tf.Variable([0.0] * num_coeffs, name="parameters")
        y_model = tf.add_n([tf.multiply(w[i], tf.pow(X, i)) for i in range(num_coeffs)])
        loss = tf.reduce_mean(tf.square(y_model - Y))
        train_op = v1.train.GradientDescentOptimizer(learning_rate).minimize(loss)
        init = v1.global_variables_initializer()
    feed = {X: np.asarray(x, np.float32), Y: np.asarray(y, np.float32)}
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        trajectory = [(0, sess.run(w).astype(np.float64))] if record_every else None
        start = time.perf_counter()
        for step in range(1, steps + 1):
            sess.run(train_op, feed_dict=feed)
            if record_every and step % record_every == 0:
                trajectory.append((step, sess.run(w).astype(np.float64)))
        seconds = time.perf_counter() - start
        final = sess.run(w).astype(np.float64)
    return (final, seconds, trajectory) if record_every else (final, seconds)
