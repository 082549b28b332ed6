"""`lr_find`, the learning-rate range test on any compiled Keras model, checked by training; `LrFindResult`.

Example:

>>> import keras
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> x = np.random.default_rng(0).normal(size=(256, 3))
>>> before = [w.copy() for w in model.get_weights()]
>>> result = lr_find(model, x, x @ [1.0, 2.0, 3.0], steps=50, start_lr=1e-4, end_lr=10)
>>> 1e-3 < result.suggestion < 1.0, all((a == b).all() for a, b in zip(before, model.get_weights()))
(True, True)
>>> result.suggestion in [candidate.rate for candidate in result.candidates], result.validation
(True, 'a random 20 % of x, held out (seed 0)')
"""

import dataclasses
import logging
import math
import os

import numpy as np

from polykeras.checks import check_int, check_number
from polykeras.errors import InvalidArgumentError
from polykeras.lr_finder import check as checking
from polykeras.lr_finder import rules
from polykeras.lr_finder.batches import parts
from polykeras.lr_finder.sweep import Stepper, check_sweepable
from polykeras.tensorboard.events import EventWriter, image_summary, scalar_value, text_value

logger = logging.getLogger(__name__)
# A smoothed loss this many times its lowest ends the sweep: the rate has made training diverge.
DIVERGENCE_FACTOR = 4.0
# The share of array data the check holds out to score its candidates on, when no validation data is given.
HELD_OUT = 0.2


@dataclasses.dataclass
class LrFindResult:
    """What `lr_find` measured.

    Attributes:
        rates: The learning rates the sweep tried, one per optimizer step.
        losses: The loss of each step (its batch's, before the step's update).
        smoothed: `losses`, exponentially smoothed (bias-corrected).
        suggestion: The suggested learning rate: the check's choice (the
            lowest rate within one standard error of the best validation
            loss, `check.choose`), or with `check=False` the rule's pick,
            `suggestions[rule]`.
        rule: The name of the rule that reads the sweep (and whose
            neighbours the check tries).
        suggestions: Every rule's pick (`rules.RULES`, and a callable given as
            `suggest`), as floats.
        diverged: Whether the loss exploded and ended the sweep early.
        warning: Why the suggestion cannot be trusted, or None (see `rules.why_untrusted`).
        candidates: The check's candidates (`check.Candidate`: rate, source,
            validation score and its standard error, steps), by rate; empty
            with `check=False`.
        validation: What the check scored on (`"validation_data"`, a
            `validation_split`, or the share of `x` it held out), or None.
    """

    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    rule: str
    suggestions: dict
    diverged: bool = False
    warning: str = None
    candidates: list = dataclasses.field(default_factory=list)
    validation: str = None

    @property
    def check_steps(self):
        """The optimizer steps the check trained, all candidates together (0 without a check)."""
        return sum(candidate.steps for candidate in self.candidates)

    @property
    def method(self):
        """How the suggestion was chosen, in a few words."""
        function = rules.RULES.get(self.rule)
        reading = (function.__doc__ or self.rule).strip().splitlines()[0] if function else self.rule
        if not self.candidates:
            return reading
        steps = max(candidate.steps for candidate in self.candidates)
        return (
            f"the lowest rate within one standard error of the best validation loss, of {len(self.candidates)} "
            f"candidates trained {steps} steps each (every rule's pick, and a third and three times {self.rule}'s); "
            f"{self.rule}: {reading}"
        )

    def as_json(self):
        return {
            "suggested_learning_rate": self.suggestion,
            "rule": self.rule,
            "suggestions": self.suggestions,
            "warning": self.warning,
            "diverged": self.diverged,
            "candidates": [candidate.as_json() for candidate in self.candidates],
            "check_steps": self.check_steps,
            "validation": self.validation,
            "learning_rates": self.rates.tolist(),
            "losses": self.losses.tolist(),
        }

    def plot(self, path=None):
        """Loss against rate (log scale), smoothed, every rule's pick and the check's candidates with their scores.

        See `polykeras.plots.plot_lr_find`.
        """
        from polykeras.plots import plot_lr_find  # matplotlib: loaded when a picture is asked for

        return plot_lr_find(self, path)

    def write_events(self, log_dir, picture=None):
        """Writes the sweep to TensorBoard: rate, loss and smoothed loss per step, every pick, the check's
        candidates and their scores, and the picture.

        Args:
            log_dir: The run folder; events go to `log_dir/train`.
            picture: The plot as a uint8 RGB array (`plot()`), if any.
        """
        with EventWriter(os.path.join(log_dir, "train")) as writer:
            for step, (rate, loss, smoothed) in enumerate(zip(self.rates, self.losses, self.smoothed, strict=True)):
                writer.write(
                    [
                        scalar_value("lr_find/learning_rate", rate),
                        scalar_value("lr_find/loss", loss),
                        scalar_value("lr_find/smoothed_loss", smoothed),
                    ],
                    step,
                )
            picks = [scalar_value(f"lr_find/suggestion/{name}", rate) for name, rate in self.suggestions.items()]
            picks.append(scalar_value("lr_find/suggestion", self.suggestion))
            picks += [scalar_value(f"lr_find/check/{c.source}", c.score) for c in self.candidates]
            picks.append(text_value("lr_find/warning", self.warning or "none"))
            if picture is not None:
                picks.extend(image_summary("lr_find/loss_vs_rate", picture).value)
            writer.write(picks, len(self.rates))


def lr_find(
    model,
    x=None,
    y=None,
    *,
    batch_size=32,
    start_lr=1e-7,
    end_lr=10.0,
    steps=100,
    seed=0,
    sample_weight=None,
    suggest=rules.DEFAULT_RULE,
    check=True,
    validation_data=None,
    validation_split=None,
    check_steps=None,
):
    """The learning-rate range test on any compiled Keras model, its suggestion checked by training.

    The sweep: the rate grows exponentially from `start_lr` to `end_lr`, one
    optimizer step per rate, with the model's own optimizer, loss and training
    step, while each step's loss is recorded. A loss that explodes ends the
    sweep early (`diverged`), without an error. Every rule reads the curve.

    The check (`polykeras.lr_finder.check`): every rule's pick and the chosen
    rule's neighbours (a third and three times it) each train `check_steps`
    steps from the model's starting state, and the one with the lowest loss
    on validation data is the suggestion.

    Afterwards every variable of the model and of its optimizer holds the
    value it had before, bit for bit, whether `lr_find` ended, diverged or
    raised (see `polykeras.lr_finder.sweep`).

    Args:
        model: A compiled `keras.Model` (a learning-rate schedule, mixed
            precision and `steps_per_execution` are fine). For a built-in
            task's model, see `polykeras.tasks.Task.lr_find`.
        x: Whatever `fit` takes: arrays, or lists or dicts of arrays (with
            `y`); a `keras.utils.PyDataset`; a `tf.data.Dataset`; or any
            Python iterable or generator of `(x, y)` or `(x, y,
            sample_weight)` batches.
        y: Targets, with arrays.
        batch_size: Samples per step, with arrays.
        start_lr: The first learning rate.
        end_lr: The last learning rate.
        steps: Learning rates the sweep tries (optimizer steps), at least 2.
        seed: Seed of the arrays' order, and of the share held out: the same
            seed, the same curve and suggestion.
        sample_weight: Weights per sample, with arrays.
        suggest: The rule that reads the sweep: a name in
            `polykeras.lr_finder.RULES` or a function of `(rates, losses)`
            returning a float. Every rule's pick is in the result anyway.
        check: Whether to check the candidates by training (else the rule's
            pick is the suggestion, as fastai's and Lightning's finders give).
        validation_data: What the check scores on, as `fit` takes it. Without
            it, `validation_split` of arrays (their last share, as `fit`'s),
            else a random `HELD_OUT` share of arrays (the last batches of a
            `PyDataset`), held out of the sweep and the check's training; a
            dataset or generator needs it.
        validation_split: See `validation_data`.
        check_steps: Steps each candidate trains; by default one pass over
            the training data, at most `check.MAX_STEPS`.

    Returns:
        An `LrFindResult`. A curve that cannot be trusted has its `warning`
        set, and is logged at WARNING.

    Raises:
        InvalidArgumentError: for a model that is not compiled, an optimizer
            with gradient accumulation, bad rates, steps or data.
    """
    check_sweepable(model)
    name, chosen = _check_arguments(steps, start_lr, end_lr, batch_size, suggest, check_steps)
    training, validation, described = parts(
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        seed=seed,
        validation_data=validation_data,
        validation_split=validation_split,
        held_out=HELD_OUT if check else 0.0,
    )
    stream = training()
    first = next(stream, None)
    if first is None:
        raise InvalidArgumentError("x yields no batch. Received: an empty dataset", "x")
    if not model.built:  # so that the sweep starts from weights that exist, and are put back
        model(first[0])
    rates = np.geomspace(start_lr, end_lr, steps)
    losses, diverged = [], False
    with Stepper(model) as stepper:
        set_rate = stepper.sweep(start_lr, end_lr, steps)
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
        result = _result(rates[: len(losses)], losses, name, chosen, diverged)
        if check:
            picks = checking.candidates(result.suggestions, name)
            each = check_steps or checking.default_steps(training.steps_per_pass)
            result.candidates = checking.run(stepper, picks, training, validation, each)
            result.validation = described
            _choose(result)
    if result.warning:
        logger.warning("lr_find: the suggestion %.3g cannot be trusted: %s", result.suggestion, result.warning)
    return result


def _choose(result):
    """Makes the candidate the check keeps (`check.choose`) the suggestion; a check whose every candidate diverged
    says so."""
    chosen = checking.choose(result.candidates)
    if chosen is not None:
        result.suggestion = chosen.rate
        return
    result.warning = "every candidate of the check diverged" + (f"; {result.warning}" if result.warning else "")


def _result(rates, losses, name, chosen, diverged):
    """The `LrFindResult` of a sweep: every rule's pick, the chosen one's, and whether to trust the curve."""
    rates, losses = np.asarray(rates, np.float64), np.asarray(losses, np.float64)
    suggestions = {rule_name: float(function(rates, losses)) for rule_name, function in rules.RULES.items()}
    suggestions[name] = float(chosen(rates, losses))
    return LrFindResult(
        rates=rates,
        losses=losses,
        smoothed=rules.smooth(losses),
        suggestion=suggestions[name],
        rule=name,
        suggestions=suggestions,
        diverged=diverged,
        warning=rules.why_untrusted(rates, losses, diverged),
    )


def _check_arguments(steps, start_lr, end_lr, batch_size, suggest, check_steps):
    """Raises `InvalidArgumentError` for a bad argument of `lr_find`; returns the rule's `(name, function)`."""
    check_int(steps, "steps", at_least=2)
    check_int(batch_size, "batch_size")
    if check_steps is not None:
        check_int(check_steps, "check_steps")
    check_number(start_lr, "start_lr", above=0)
    check_number(end_lr, "end_lr", above=0)
    if not start_lr < end_lr:
        raise InvalidArgumentError(
            f"start_lr and end_lr must satisfy 0 < start_lr < end_lr. "
            f"Received: start_lr={start_lr!r}, end_lr={end_lr!r}"
        )
    return rules.rule(suggest)
