"""polykeras.search.parts: a user's data split into training and validation parts, and labels only one part has."""

import numpy as np
import pytest
from helpers import regression_data

from polykeras.errors import InvalidArgumentError
from polykeras.search.parts import split


def test_validation_is_the_last_share_unless_given():
    x, y = regression_data(2)
    train, validation = split(x, y, validation_split=0.25)
    np.testing.assert_array_equal(validation[0][1], x[1][15:])
    np.testing.assert_array_equal(train[1], y[:15])
    train, validation = split(x, y, validation_data=(x, y))
    assert validation[1] is y and len(train[1]) == 20


@pytest.mark.parametrize("share", [0.0, 1.0, 1, "half", 0.01])
def test_a_bad_validation_split_names_the_parameter(share):
    with pytest.raises(InvalidArgumentError, match="validation_split") as caught:
        split(*regression_data(2), validation_split=share)
    assert caught.value.parameter == "validation_split"


def test_a_validation_part_with_labels_the_training_part_lacks_is_named(caplog):
    """Sorted data cut by validation_split: the last fifth holds classes the model never trains on."""
    x, labels = np.zeros((50, 3), "float32"), np.repeat(np.arange(5), 10)  # sorted by label
    with caplog.at_level("WARNING", logger="polykeras"):
        split(x, labels)
    assert "the validation part holds labels the training part never has: 4 (sorted data?" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="polykeras"):
        split(x, np.random.default_rng(0).permutation(labels))
        split(x, np.eye(5)[np.random.default_rng(0).permutation(labels)])  # one-hot rows
    assert "never has" not in caplog.text
    with caplog.at_level("WARNING", logger="polykeras"):
        split(x, np.eye(5)[labels])
    assert "never has: 4" in caplog.text
