"""The learning-rate range test (Smith 2015; fastai's and Lightning's `lr_find`), for any compiled Keras model.

- `finder`: `lr_find` and its result, `LrFindResult`.
- `rules`: the suggestion rules, plain functions of `(rates, losses)`, and
  `why_untrusted`, which says why a curve cannot be trusted.
- `sweep`: one optimizer step per rate with Keras's own training step, and
  the model and optimizer put back bit for bit.
- `batches`: batches from whatever `fit` takes.

The default rule was chosen on `benchmarks/lr_find_quality.py`: trained log
grids of rates on models of many kinds (README, "Choosing a learning rate").
"""

from polykeras.lr_finder.finder import LrFindResult, lr_find
from polykeras.lr_finder.rules import DEFAULT_RULE, RULES, descent, minimum, smooth, steepest, valley, why_untrusted

__all__ = [
    "DEFAULT_RULE",
    "RULES",
    "LrFindResult",
    "descent",
    "lr_find",
    "minimum",
    "smooth",
    "steepest",
    "valley",
    "why_untrusted",
]
