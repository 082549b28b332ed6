"""What `polykeras demo` shows, as library calls: the seed's problem two ways, then zero init on a network.

Example:

>>> from polykeras.data import load_mnist
>>> *digits, _ = load_mnist("sample")
>>> [init for init, _ in zero_init_contrast(digits, epochs=1)]
['zeros', 'glorot_uniform']
"""

from polykeras.mnist import train_mnist

# The seed program's data: y = 1 + 2x + 3x^2 + noise, 100 points on [-1, 1], six coefficients from 0.
SEED_PROBLEM = {"true_coefficients": [1.0, 2.0, 3.0], "samples": 100, "noise": 0.1, "x_range": (-1.0, 1.0),
                "degree": 5}
# Its own recipe, and polykeras's default, as `fit_polynomial` arguments.
SEED_RECIPES = [
    ("1. The seed program's recipe: raw monomials, SGD at 0.01, 1000 epochs from zeros",
     {"basis": "monomial", "learning_rate": 0.01, "epochs": 1000}),
    ("2. polykeras's default: Legendre basis orthonormalised on the data, SGD at 0.4, 20 epochs", {}),
]
ZERO_INIT = {"epochs": 3, "hidden": (64, 64), "augment": False}


def zero_init_contrast(digits, **recipe):
    """Trains the MLP from zeros and from Glorot's random start (`ZERO_INIT` unless overridden).

    Returns:
        `[(init, MnistTraining), ...]`; each result's `hidden_units` says how
        many hidden units are distinct and what gradient reaches them.
    """
    recipe = {**ZERO_INIT, **recipe}
    return [(init, train_mnist(digits, init=init, **recipe)) for init in ("zeros", "glorot_uniform")]
