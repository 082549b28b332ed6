"""The check of a sweep's suggestion: a few candidate rates, each trained briefly from where the model started.

A rule read off one sweep curve picks a rate near the curve's cliff, and a
rate a little past it costs points; so `lr_find` checks, the way a grid
would, by training. The candidates are every rule's pick and the default
rule's neighbours, a third and three times it (`candidates`). Each trains for
`steps` optimizer steps at its constant rate, from the model's weights and
optimizer state as they were before `lr_find`, on the same training batches,
and is scored by its loss on the validation part, which it never trained on
(`validation_loss`), with that loss's standard error over the part's
batches. A candidate whose loss turns non-finite stops at once and scores
infinity.

`choose` keeps the lowest rate whose score is within one standard error of
the best score: the one-standard-error rule of model selection (Hastie,
Tibshirani and Friedman, *The Elements of Statistical Learning*, 7.10).
A short run favours large rates, which make the most progress early even
when they end worse; where the check cannot tell two candidates apart, the
smaller rate is the safer choice.

Example:

>>> picks = {"descent": 0.01, "valley": 0.011, "minimum": 0.002}
>>> [(round(rate, 5), source) for rate, source in candidates(picks, "descent")]
[(0.002, 'minimum'), (0.00333, 'descent / 3'), (0.01, 'descent'), (0.03, 'descent x 3')]
"""

import dataclasses
import itertools
import math

import numpy as np

# The default rule's neighbours that are candidates too.
NEIGHBOURS = {"/ 3": 1 / 3, "x 3": 3.0}
# Candidates closer than this factor are one: the first listed keeps its name.
SAME_RATE = 10**0.1
# The steps each candidate trains by default: one pass over the training part,
# at most MAX_STEPS. With five candidates that is a fifth of the training of a
# grid of nine rates trained three epochs each.
MAX_STEPS = 500


@dataclasses.dataclass
class Candidate:
    """A rate the check trained, and how it did.

    Attributes:
        rate: The learning rate.
        source: Which rule picked it, or which neighbour of the default's it is (`"descent x 3"`).
        score: Its loss on the validation part after training (inf when it diverged).
        error: The standard error of `score` over the validation part's batches (0 for one batch).
        steps: The optimizer steps it trained.
    """

    rate: float
    source: str
    score: float = math.inf
    error: float = 0.0
    steps: int = 0

    def as_json(self):
        return {"rate": self.rate, "source": self.source, "score": self.score, "error": self.error, "steps": self.steps}


def candidates(suggestions, rule):
    """`[(rate, source)]`, increasing: every rule's pick and `rule`'s neighbours, those a factor apart kept once.

    Args:
        suggestions: `{rule name: rate}`, the sweep's picks.
        rule: The name of the default rule, whose pick and neighbours come first.
    """
    listed = [(suggestions[rule], rule)]
    listed += [(suggestions[rule] * factor, f"{rule} {name}") for name, factor in NEIGHBOURS.items()]
    listed += [(rate, name) for name, rate in suggestions.items() if name != rule]
    kept = []
    for rate, source in listed:
        if math.isfinite(rate) and rate > 0 and all(max(rate / r, r / rate) >= SAME_RATE for r, _ in kept):
            kept.append((float(rate), source))
    return sorted(kept)


def default_steps(steps_per_epoch):
    """Steps each candidate trains when none are asked for: a pass over the training part, at most `MAX_STEPS`.

    >>> default_steps(15), default_steps(10_000), default_steps(None)
    (15, 500, 500)
    """
    return min(steps_per_epoch or MAX_STEPS, MAX_STEPS)


def run(stepper, picks, training, validation, steps):
    """Trains and scores each of `picks` (`[(rate, source)]`) from the model's starting state.

    Args:
        stepper: The `sweep.Stepper` of the model, entered.
        picks: The candidates.
        training: A function that starts the training part's batches over.
        validation: The validation part's batches.
        steps: Optimizer steps each candidate trains, at most (fewer when the data end).

    Returns:
        A `Candidate` for each pick, in order.
    """
    model, trained = stepper.model, []
    for rate, source in picks:
        stepper.reset()
        stepper.constant(rate)
        candidate, finite = Candidate(rate, source), True
        for batch in itertools.islice(training(), steps):
            loss = float(model.train_on_batch(*batch, return_dict=True)["loss"])
            candidate.steps += 1
            if not math.isfinite(loss):
                finite = False
                break
        if finite:
            candidate.score, candidate.error = validation_loss(model, validation)
        trained.append(candidate)
    stepper.reset()
    return trained


def choose(candidates):
    """The candidate the check keeps: the lowest rate within one standard error of the best score; None if every
    candidate diverged.

    >>> choose([Candidate(0.01, "a", 0.52, 0.03), Candidate(0.1, "b", 0.50, 0.02), Candidate(1.0, "c")]).rate
    0.01
    """
    best = min(candidates, key=lambda candidate: candidate.score)
    if not math.isfinite(best.score):
        return None
    return min((c for c in candidates if c.score <= best.score + best.error), key=lambda candidate: candidate.rate)


def validation_loss(model, batches):
    """`(loss, standard error)`: the compiled loss over `batches` in inference mode, each batch weighted by its
    size, and the standard error of that mean over the batches; `(inf, 0)` if the loss is not finite."""
    losses, sizes = [], []
    for x, y, sample_weight in batches:
        sizes.append(len(np.asarray(_first_array(x))))
        losses.append(float(model.test_on_batch(x, y, sample_weight, return_dict=True)["loss"]))
    losses, weights = np.asarray(losses), np.asarray(sizes) / sum(sizes)
    loss = float(weights @ losses)
    if not math.isfinite(loss):
        return math.inf, 0.0
    # The weighted mean's variance, from the batches' spread around it (Cochran's ratio estimator, n / (n - 1)).
    count = len(losses)
    error = math.sqrt(count / (count - 1) * float(weights**2 @ (losses - loss) ** 2)) if count > 1 else 0.0
    return loss, error


def _first_array(structure):
    while isinstance(structure, (list, tuple, dict)):
        structure = next(iter(structure.values())) if isinstance(structure, dict) else structure[0]
    return structure
