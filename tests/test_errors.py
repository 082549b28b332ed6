"""polykeras.errors: bad input is a ValueError naming its parameter; a failed run a RuntimeError with its advice."""

import pytest

from polykeras.errors import InvalidArgumentError, LossBecameNaN, RunError, RunInProgress, TrainingCollapsed

pytestmark = pytest.mark.any_backend


def test_bad_input_is_a_value_error_that_names_its_parameter():
    error = InvalidArgumentError("steps must be an integer >= 2. Received: steps=1", "steps")
    assert isinstance(error, ValueError) and not isinstance(error, RuntimeError)
    assert str(error) == "steps must be an integer >= 2. Received: steps=1" and error.parameter == "steps"
    assert InvalidArgumentError("no parameter to blame").parameter is None


def test_each_failed_run_is_a_run_error_with_its_message_and_what_it_keeps():
    model = object()
    nan = LossBecameNaN(3, model)
    assert isinstance(nan, RunError) and isinstance(nan, RuntimeError) and not isinstance(nan, ValueError)
    assert str(nan) == "loss became NaN at epoch 3; try a smaller learning_rate"
    assert (nan.epoch, nan.model, nan.parameter) == (3, model, "learning_rate")
    collapsed = TrainingCollapsed(model)
    assert str(collapsed) == (
        "training collapsed: every hidden unit is dead (zero gradient); try a smaller learning_rate"
    )
    assert (collapsed.model, collapsed.parameter) == (model, "learning_rate")
    assert str(RunInProgress(1234)) == "the same run is in progress (pid 1234)" and RunInProgress(1234).pid == 1234
    assert str(RunInProgress(None)) == "the same run is in progress (pid unknown)"
    assert RunInProgress(5).parameter is None and RunError("x").parameter is None
