"""Helpers both backends share."""


def loss_tracker(model):
    """The compiled model's `loss` metric, which a custom `train_step` must update itself."""
    return next(metric for metric in model.metrics if metric.name == "loss")
