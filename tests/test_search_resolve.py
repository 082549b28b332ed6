"""polykeras.search.resolve: what the user passes to `search`, checked and turned into a task before anything runs."""

import keras
import numpy as np
import pytest
from helpers import functional_with_batchnorm, regression_data

from polykeras.errors import InvalidArgumentError
from polykeras.search.resolve import resolve

L = keras.layers


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"task": "cnn"}, "task must be one of poly, mnist, a compiled keras.Model"),
        ({"task": "poly", "batch_size": 8}, "batch_size apply to a model's search, not to task='poly'"),
        ({"task": "poly", "objective": "val_mae"}, "objective apply to a model's search, not to task='poly'"),
        ({"task": "poly", "y": np.zeros(3)}, "y applies to a model's search"),
        ({"task": keras.Sequential([L.Dense(1)]), "x": np.zeros((4, 1)), "y": np.zeros(4)}, "must be compiled"),
        ({"task": functional_with_batchnorm(), "x": regression_data(2)[0]}, "x and y are needed"),
        (
            {
                "task": functional_with_batchnorm(),
                "x": regression_data(2)[0],
                "y": regression_data(2)[1],
                "objective": "val_acc",
            },
            "objective must be a metric the model logs: val_loss, val_mse, loss, mse. Received: objective='val_acc'",
        ),
    ],
)
def test_resolve_refuses_what_it_cannot_search(arguments, message):
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(")):
        resolve(**arguments)
