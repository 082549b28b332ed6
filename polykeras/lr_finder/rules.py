"""The suggestion rules of the learning-rate range test, each a plain function of `(rates, losses)`.

Every rule takes the rates tried, in increasing order, and the loss recorded
at each (raw, one per optimizer step), and returns one learning rate as a
Python float. Each smooths the losses first (`smooth`: an exponential moving
average, bias-corrected) and, as fastai does, looks only at the curve after
its first tenth (where the moving average is still settling) and before its
last steps (where the loss explodes).

- `minimum`: a tenth of the rate at the smoothed loss's minimum (Smith's rule
  of thumb).
- `steepest`: the rate where the smoothed loss falls fastest against the
  rate's logarithm (fastai's `steep`, Lightning's suggestion).
- `valley`: fastai's default since 2.4: the rate halfway along the longest
  valley, the longest stretch of the curve that keeps descending.
- `descent`: polykeras's own, and its default (chosen on
  `benchmarks/lr_find_quality.py`): `steepest`, looked for only on the final
  descent into the minimum, from the last point still within a tenth of the
  plateau's height, so that noise on the flat start of the curve, which
  fools `steepest` (Lightning#1767), is not looked at.

`why_untrusted(rates, losses)` says why a curve cannot be trusted, or None.

Example:

>>> import numpy as np
>>> rates = np.geomspace(1e-4, 10, 101)
>>> losses = np.log10(rates / 0.1) ** 2  # lowest at 0.1
>>> round(minimum(rates, losses), 4) <= 0.1 * 10 ** 0.5 / 10
True
"""

import math

import numpy as np

from polykeras.errors import InvalidArgumentError

# The moving average's weight on the past: 0.9 reaches a step's loss within about ten steps.
BETA = 0.9
# The shares of the curve each rule leaves out at its start and steps at its end (fastai: num_it // 10 and 5).
SKIP_START = 0.1
SKIP_END = 5


def smooth(values, beta=BETA):
    """Exponential moving average of `values`, bias-corrected (its first value is the first value)."""
    out, average = [], 0.0
    for k, v in enumerate(values, start=1):
        average = beta * average + (1 - beta) * v
        out.append(average / (1 - beta**k))
    return np.asarray(out)


def _trimmed(rates, losses):
    """`(rates, smoothed losses)` without the curve's first tenth and last steps (all of it if that leaves too few)."""
    rates, smoothed = np.asarray(rates, np.float64), smooth(np.asarray(losses, np.float64))
    start, stop = int(len(rates) * SKIP_START), len(rates) - SKIP_END
    if stop - start >= 3:
        rates, smoothed = rates[start:stop], smoothed[start:stop]
    finite = np.isfinite(smoothed)
    if finite.sum() >= 2:
        rates, smoothed = rates[finite], smoothed[finite]
    return rates, smoothed


def minimum(rates, losses):
    """A tenth of the rate where the smoothed loss is lowest."""
    rates, smoothed = _trimmed(rates, losses)
    return float(rates[int(np.argmin(smoothed))] / 10)


def steepest(rates, losses):
    """The rate where the smoothed loss falls fastest against log(rate)."""
    return _steepest_of(*_trimmed(rates, losses))


def _steepest_of(rates, smoothed):
    if len(rates) < 2:
        return float(rates[0])
    slopes = np.diff(smoothed) / np.diff(np.log(rates))
    return float(rates[int(np.argmin(slopes))])


# How far down from the plateau (as a share of its height over the minimum) the final descent counts from.
DESCENT_TOP = 0.9


def descent(rates, losses):
    """The rate where the smoothed loss falls fastest on its final descent into the minimum.

    The plateau is the median of the smoothed loss over the first half of
    the curve before its minimum; the final descent starts at the last point
    before the minimum that still lies above `DESCENT_TOP` of the way from
    the minimum up to the plateau.
    """
    rates, smoothed = _trimmed(rates, losses)
    lowest = int(np.argmin(smoothed))
    plateau = float(np.median(smoothed[: max(1, lowest // 2)]))
    level = smoothed[lowest] + DESCENT_TOP * (plateau - smoothed[lowest])
    above = np.nonzero(smoothed[:lowest] >= level)[0]
    start = int(above[-1]) if len(above) else 0
    return _steepest_of(rates[start : lowest + 1], smoothed[start : lowest + 1])


def _longest_valley(smoothed):
    """`(start, end)` of the longest decreasing subsequence of `smoothed` (fastai's `valley`, O(n^2))."""
    n = len(smoothed)
    lengths = [1] * n
    best_start, best_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if smoothed[i] < smoothed[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
            if lengths[best_end] < lengths[i]:
                best_end = i
                best_start = best_end - lengths[best_end]
    return best_start, best_end


def valley(rates, losses):
    """fastai's `valley`: the rate halfway along the longest descending run of the smoothed curve."""
    rates, smoothed = _trimmed(rates, losses)
    start, end = _longest_valley(smoothed)
    sections = (end - start) / 3
    return float(rates[start + int(sections) + int(sections / 2)])


# The default first: the rule that holds on every case of benchmarks/lr_find_quality.py (docs/benchmarks.md).
RULES = {"descent": descent, "valley": valley, "minimum": minimum, "steepest": steepest}
DEFAULT_RULE = "descent"


def rule(suggest):
    """`(name, function)` for a rule's name or a callable of `(rates, losses)`.

    Raises:
        ValueError (`InvalidArgumentError`): for an unknown name or something
            that is neither a name nor callable.
    """
    if callable(suggest):
        return getattr(suggest, "__name__", type(suggest).__name__), suggest
    if suggest in RULES:
        return suggest, RULES[suggest]
    raise InvalidArgumentError(
        f"suggest must be one of {', '.join(RULES)} or a function of (rates, losses). Received: suggest={suggest!r}",
        "suggest",
    )


def why_untrusted(rates, losses, diverged=False):
    """Why the curve cannot be trusted, or None: no clear descent, divergence before descent, or noise over it.

    The descent is how far the smoothed loss falls below where it starts,
    as a share of its start; the noise is the spread of the raw losses
    around the smoothed curve before the minimum.
    """
    losses = np.asarray(losses, np.float64)
    finite = np.isfinite(losses)
    if finite.sum() < 3:
        return f"the loss was not finite after {int(finite.sum())} steps: every rate tried was too large"
    smoothed = smooth(np.where(finite, losses, np.nan))
    lowest = int(np.nanargmin(smoothed))
    start = smoothed[0]
    fall = start - smoothed[lowest]
    share = fall / abs(start) if start else 0.0
    if diverged and share < 0.05:
        return (
            f"the loss diverged before it descended (it fell {100 * share:.1f} % below its start first): "
            "start the sweep at a lower rate"
        )
    if share < 0.05:
        return f"no clear descent: the smoothed loss fell {100 * share:.1f} % below its start"
    noise = float(np.std((losses - smoothed)[: lowest + 1][finite[: lowest + 1]]))
    if noise > fall:
        return (
            f"the noise (a spread of {noise:.3g} around the smoothed curve) is larger than the descent "
            f"({fall:.3g}): try a larger batch_size or more steps"
        )
    if not math.isfinite(share):
        return "the loss is not finite"
    return None
