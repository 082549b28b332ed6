"""The two ways a polykeras call can fail on purpose.

- `InvalidArgumentError` (a `ValueError`): the input is wrong, and nothing has
  been trained or written yet. The command line prints its message as
  `error: ...` and exits with code 2.

Messages speak Python, naming the library's parameters (`learning_rate`,
`runs_dir`); each error names the one it is about in `parameter`, and the
command line says its own flags instead (`--learning-rate`, `--log-dir`).
- `RunError` (a `RuntimeError`) and its subclasses: the input was fine but the
  run failed (training diverged or collapsed, the same run is already going,
  a search process died). The command line prints `error: ...` and exits 1.

Any other exception is a bug, in polykeras or below it, and keeps its
traceback.

Example:

>>> from polykeras.errors import InvalidArgumentError
>>> issubclass(InvalidArgumentError, ValueError)
True
"""


class InvalidArgumentError(ValueError):
    """A bad argument, found before anything was trained or written.

    Args:
        message: What is wrong, ending `Received: <parameter>=<value>` when
            one parameter is to blame.
        parameter: That parameter's name (such as `"max_trials"`), so that
            the command line can name its own flag instead.
    """

    def __init__(self, message, parameter=None):
        super().__init__(message)
        self.parameter = parameter


class RunError(RuntimeError):
    """A run that started with good input and failed.

    Attributes:
        parameter: The parameter its advice names (such as `"learning_rate"`),
            so that the command line can name its own flag instead; or None.
    """

    parameter = None


class LossBecameNaN(RunError):
    """Training diverged; `model` holds the weights of the last good epoch.

    Args:
        epoch: The 1-based epoch whose loss was not finite.
        model: The model, restored to the last finite epoch.
    """

    parameter = "learning_rate"

    def __init__(self, epoch, model):
        super().__init__(f"loss became NaN at epoch {epoch}; try a smaller learning_rate")
        self.epoch = epoch
        self.model = model


class TrainingCollapsed(RunError):
    """Training ended with every hidden unit dead: no gradient reaches any hidden kernel.

    Args:
        model: The trained (collapsed) model.
    """

    parameter = "learning_rate"

    def __init__(self, model):
        super().__init__("training collapsed: every hidden unit is dead (zero gradient); try a smaller learning_rate")
        self.model = model


class RunInProgress(RunError):
    """Another process holds the lock of the same run.

    Args:
        pid: The process that holds it, if it could be read.
    """

    def __init__(self, pid):
        super().__init__(f"the same run is in progress (pid {pid if pid is not None else 'unknown'})")
        self.pid = pid
