"""`lr_find`, the learning-rate range test on any compiled Keras model, and `LrFindResult`, what it measured.

Example:

>>> import keras
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> x = np.random.default_rng(0).normal(size=(256, 3))
>>> before = [w.copy() for w in model.get_weights()]
>>> result = lr_find(model, x, x @ [1.0, 2.0, 3.0], steps=50, start_lr=1e-4, end_lr=10)
>>> 1e-3 < result.suggestion < 1.0, all((a == b).all() for a, b in zip(before, model.get_weights()))
(True, True)
"""

import dataclasses
import logging
import math
import os

import numpy as np

from polykeras import backend
from polykeras.checks import check_int, check_number
from polykeras.errors import InvalidArgumentError
from polykeras.lr_finder import rules
from polykeras.lr_finder.sweep import batches, check_sweepable, sweeping

logger = logging.getLogger(__name__)
# A smoothed loss this many times its lowest ends the sweep: the rate has made training diverge.
DIVERGENCE_FACTOR = 4.0


@dataclasses.dataclass
class LrFindResult:
    """What `lr_find` measured.

    Attributes:
        task: `"poly"` or `"mnist"`, or None for a model of the caller's.
        rates: The learning rates tried, one per optimizer step.
        losses: The loss of each step (its batch's, before the step's update).
        smoothed: `losses`, exponentially smoothed (bias-corrected).
        suggestion: The suggested learning rate: `suggestions[rule]`.
        rule: The name of the rule that suggested it.
        suggestions: Every rule's pick (`rules.RULES`, and a callable given as
            `suggest`), as floats.
        diverged: Whether the loss exploded and ended the sweep early.
        warning: Why the curve cannot be trusted, or None (see `rules.trouble`).
    """

    task: str
    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    rule: str
    suggestions: dict
    diverged: bool = False
    warning: str = None

    @property
    def method(self):
        """How the suggestion was chosen: the rule's docstring's first line."""
        function = rules.RULES.get(self.rule)
        return (function.__doc__ or self.rule).strip().splitlines()[0] if function else self.rule

    def as_json(self):
        return {"suggested_learning_rate": self.suggestion, "rule": self.rule, "suggestions": self.suggestions,
                "warning": self.warning, "diverged": self.diverged, "learning_rates": self.rates.tolist(),
                "losses": self.losses.tolist()}

    def plot(self, path=None):
        """Loss against rate (log scale), smoothed, with every rule's pick marked; see `polykeras.plots`."""
        from polykeras.plots import plot_lr_find

        return plot_lr_find(self, path)

    def write_events(self, log_dir, picture=None):
        """Writes the sweep to TensorBoard: rate, loss and smoothed loss per step, every pick, and the picture.

        Args:
            log_dir: The run folder; events go to `log_dir/train`.
            picture: The plot as a uint8 RGB array (`plot()`), if any.
        """
        from polykeras.tensorboard.events import EventWriter, image_summary, scalar_value, text_value

        with EventWriter(os.path.join(log_dir, "train")) as writer:
            for step, (rate, loss, smoothed) in enumerate(zip(self.rates, self.losses, self.smoothed)):
                writer.write([scalar_value("lr_find/learning_rate", rate), scalar_value("lr_find/loss", loss),
                              scalar_value("lr_find/smoothed_loss", smoothed)], step)
            picks = [scalar_value(f"lr_find/suggestion/{name}", rate) for name, rate in self.suggestions.items()]
            picks.append(text_value("lr_find/warning", self.warning or "none"))
            if picture is not None:
                picks.extend(image_summary("lr_find/loss_vs_rate", picture).value)
            writer.write(picks, len(self.rates))


def lr_find(model, x=None, y=None, *, batch_size=32, start_lr=1e-7, end_lr=10.0, steps=100, seed=0,
            sample_weight=None, suggest=rules.DEFAULT_RULE):
    """The learning-rate range test on any compiled Keras model; the model is left exactly as it was.

    The rate grows exponentially from `start_lr` to `end_lr`, one optimizer
    step per rate, with the model's own optimizer, loss and training step,
    while each step's loss is recorded. A loss that explodes ends the sweep
    early (`diverged`), without an error. Afterwards every variable of the
    model and of its optimizer holds the value it had before, bit for bit,
    whether the sweep ended, diverged or raised (see `polykeras.lr_finder.sweep`).

    Args:
        model: A compiled `keras.Model` (a learning-rate schedule, mixed
            precision and `steps_per_execution` are fine), or a built-in
            task's name (`"poly"`, `"mnist"`; then `x` is its data, see
            `polykeras.search.tasks`).
        x: Whatever `fit` takes: arrays, or lists or dicts of arrays (with
            `y`); a `keras.utils.PyDataset`; a `tf.data.Dataset`; or any
            Python iterable or generator of `(x, y)` or `(x, y,
            sample_weight)` batches.
        y: Targets, with arrays.
        batch_size: Samples per step, with arrays.
        start_lr: The first learning rate.
        end_lr: The last learning rate.
        steps: Learning rates tried (optimizer steps), at least 2.
        seed: Seed of the arrays' order: the same seed, the same curve.
        sample_weight: Weights per sample, with arrays.
        suggest: The rule that suggests the rate: a name in
            `polykeras.lr_finder.RULES` or a function of `(rates, losses)`
            returning a float. Every rule's pick is in the result anyway.

    Returns:
        An `LrFindResult`. A curve that cannot be trusted has its `warning`
        set, and is logged at WARNING.

    Raises:
        InvalidArgumentError: for a model that is not compiled, an optimizer
            with gradient accumulation, bad rates, steps or data.
    """
    if isinstance(model, str):
        return task_lr_find(model, x, steps=steps, seed=seed, suggest=suggest)
    check_sweepable(model)
    name, chosen = check_arguments(steps, start_lr, end_lr, batch_size, suggest)
    stream = batches(x, y, sample_weight, batch_size, seed)
    first = next(stream, None)
    if first is None:
        raise InvalidArgumentError("x yields no batch. Received: an empty dataset", "x")
    if not model.built:  # so that the sweep starts from weights that exist, and are put back
        model(first[0])
    rates = np.geomspace(start_lr, end_lr, steps)
    losses, diverged = [], False
    with sweeping(model, start_lr, end_lr, steps) as set_rate:
        batch = first
        for rate in rates:
            set_rate(float(rate))
            loss = float(model.train_on_batch(*batch, return_dict=True)["loss"])
            losses.append(loss)
            smoothed = rules.smooth(losses)
            if not math.isfinite(loss) or smoothed[-1] > DIVERGENCE_FACTOR * np.nanmin(smoothed):
                diverged = True
                break
            batch = next(stream, None)
            if batch is None:
                logger.warning("lr_find: the data ended after %d of %d steps", len(losses), steps)
                break
    return result(None, rates[: len(losses)], losses, name, chosen, diverged)


def result(task, rates, losses, name, chosen, diverged):
    """The `LrFindResult` of a sweep: every rule's pick, the chosen one's, and whether to trust the curve."""
    rates, losses = np.asarray(rates, np.float64), np.asarray(losses, np.float64)
    suggestions = {rule_name: float(function(rates, losses)) for rule_name, function in rules.RULES.items()}
    suggestions[name] = float(chosen(rates, losses))
    warning = rules.trouble(rates, losses, diverged)
    if warning:
        logger.warning("lr_find: the suggestion %.3g cannot be trusted: %s", suggestions[name], warning)
    return LrFindResult(task=task, rates=rates, losses=losses, smoothed=rules.smooth(losses),
                        suggestion=suggestions[name], rule=name, suggestions=suggestions, diverged=diverged,
                        warning=warning)


def check_arguments(steps=100, start_lr=1e-7, end_lr=10.0, batch_size=32, suggest=rules.DEFAULT_RULE):
    """Raises `InvalidArgumentError` for a bad argument of `lr_find`; returns the rule's `(name, function)`."""
    check_int(steps, "steps", at_least=2)
    check_int(batch_size, "batch_size")
    check_number(start_lr, "start_lr", above=0)
    check_number(end_lr, "end_lr", above=0)
    if not start_lr < end_lr:
        raise InvalidArgumentError(f"start_lr and end_lr must satisfy 0 < start_lr < end_lr. "
                                   f"Received: start_lr={start_lr!r}, end_lr={end_lr!r}")
    return rules.rule(suggest)


def task_lr_find(task, data=None, *, steps=100, seed=0, suggest=rules.DEFAULT_RULE):
    """The learning-rate range test on a fresh model of a built-in task, built as the search builds each trial's.

    The model is the task's (`build_for_sweep`: its optimizer and loss, with
    a constant rate), swept over the task's range (`lr_find_rates`) on the
    search's training part, at the search's batch size: the polynomial takes
    one full-batch SGD step per rate, the MLP one batch of 128 with Adam.

    Args:
        task: `"poly"` or `"mnist"`.
        data: The task's data; None for its default (see `polykeras.search.tasks.task_data`).
        steps: Learning rates tried, spread exponentially over the task's range.
        seed: Keras's seed.
        suggest: The rule (see `lr_find`).

    Returns:
        An `LrFindResult`.

    Example:

    >>> result = task_lr_find("poly", steps=40)
    >>> result.task, len(result.rates) <= 40
    ('poly', True)
    """
    from polykeras.search.tasks import BUILT_IN, resolve

    check_arguments(steps, suggest=suggest)
    if task not in BUILT_IN:
        raise InvalidArgumentError(f"task must be one of {', '.join(BUILT_IN)} or a compiled keras.Model. "
                                   f"Received: task={task!r}", "model")
    found = resolve(task, data, seed=seed)
    backend.set_random_seed(seed)
    return dataclasses.replace(sweep_task(found, steps=steps, seed=seed, suggest=suggest), task=task)


def sweep_task(task, steps=100, seed=0, suggest=rules.DEFAULT_RULE):
    """`lr_find` on a model `task` builds as each trial's, on its training part at its batch size, over its sweep."""
    start, stop = task.lr_find_rates
    return lr_find(task.build_for_sweep(start), *task.train, batch_size=task.batch_size, start_lr=start, end_lr=stop,
                   steps=steps, seed=seed, suggest=suggest)
