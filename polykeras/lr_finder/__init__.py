"""The learning-rate range test (Smith 2015; fastai's and Lightning's `lr_find`), for any compiled Keras model.

- `finder`: `lr_find` and its result, `LrFindResult`; the sweep of a search's
  task (`task_lr_find`, `sweep_task`), on the model a trial would train.
- `rules`: the suggestion rules, plain functions of `(rates, losses)`, and
  `trouble`, which says why a curve cannot be trusted.
- `sweep`: one optimizer step per rate with Keras's own training step, on
  whatever `fit` takes, and the model and optimizer put back bit for bit.

The default rule was chosen on `benchmarks/lr_find_quality.py`: trained log
grids of rates on models of many kinds (README, "Choosing a learning rate").
"""

from polykeras.lr_finder.finder import LrFindResult, lr_find
from polykeras.lr_finder.rules import DEFAULT_RULE, RULES, descent, minimum, smooth, steepest, trouble, valley

__all__ = ["DEFAULT_RULE", "LrFindResult", "RULES", "descent", "lr_find", "minimum", "smooth", "steepest", "trouble", "valley"]
