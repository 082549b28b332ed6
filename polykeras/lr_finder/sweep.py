"""The model `lr_find` steps: one optimizer step at a time at rates of its choosing, left exactly as it was.

`lr_find` trains with `model.train_on_batch`, Keras's own training step, one
batch at a time: before each step it sets the step's rate, and after it reads
that step's loss (Keras resets the metrics for each such call, so the loss is
the batch's own, not a running mean). While it steps (`Stepper`):

- a model compiled with `steps_per_execution` > 1 is set to 1: each rate is
  one `train_on_batch` call, one batch, and Keras's PyTorch trainer refuses
  to build a training function with more than one step per call;
- an optimizer with a learning-rate schedule follows rates of the sweep's
  own instead (`SweepRates`, swapped in through the public `learning_rate`
  setter); the schedule is back afterwards;
- a `LossScaleOptimizer` (mixed precision) steps at its inner optimizer's rate.

Gradient accumulation (`gradient_accumulation_steps`) is refused: each rate
would move the weights once per several batches.

Every variable of the model (weights, non-trainable statistics, random-seed
states, metrics) and of its optimizer (moments, step count, loss scale, the
learning rate) is copied first and put back after, whether the steps ended,
diverged or raised, and whenever `Stepper.reset` is called in between; so are
the random states outside the model (`polykeras.random_states`: PyTorch's
global generator, which Keras's dropout draws from there), `steps_per_execution`
and the schedule. The training function Keras compiled is made again by the
next `fit` when either had to change.
"""

import math

import keras

from polykeras import random_states
from polykeras.errors import InvalidArgumentError
from polykeras.optimizers import inner_optimizer, schedule_of


def check_sweepable(model):
    """Raises `InvalidArgumentError` unless `model` is a compiled Keras model whose optimizer takes one rate a step."""
    if isinstance(model, str):
        raise InvalidArgumentError(
            "model must be a compiled keras.Model; a built-in task sweeps its own: "
            f"polykeras.tasks.get({model!r}).lr_find(). Received: model={model!r}",
            "model",
        )
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        raise InvalidArgumentError(f"model must be a compiled keras.Model. Received: model={model!r}", "model")
    accumulation = getattr(inner_optimizer(model.optimizer), "gradient_accumulation_steps", None) or getattr(
        model.optimizer, "gradient_accumulation_steps", None
    )
    if accumulation and accumulation > 1:
        raise InvalidArgumentError(
            "lr_find gives every optimizer step a rate of its own; an optimizer with gradient accumulation updates "
            "the weights once per several batches. Compile a copy without it for the sweep. Received: "
            f"gradient_accumulation_steps={accumulation}",
            "model",
        )


class SweepRates(keras.optimizers.schedules.LearningRateSchedule):
    """The sweep's rates as a schedule, for an optimizer that has one: `rates[step - first_step]`, clipped.

    Args:
        start: The first rate.
        stop: The last rate (`start` again for a constant rate).
        steps: Rates from `start` to `stop`, spread exponentially.
        first_step: The optimizer's step count when the sweep starts.
    """

    def __init__(self, start, stop, steps, first_step):
        self.start, self.stop, self.steps, self.first_step = float(start), float(stop), int(steps), int(first_step)

    def __call__(self, step):
        done = keras.ops.cast(step, "float32") - float(self.first_step)
        fraction = keras.ops.clip(done / max(self.steps - 1, 1), 0.0, 1.0)
        return self.start * keras.ops.exp(fraction * math.log(self.stop / self.start))

    def get_config(self):
        return {"start": self.start, "stop": self.stop, "steps": self.steps, "first_step": self.first_step}


class Stepper:
    """A built, compiled `model` prepared to take steps at rates of `lr_find`'s, as a context manager.

    On exit, and at each `reset()`, the model, its optimizer and the random
    states are put back as they were on entry (see the module's doc).
    """

    def __init__(self, model):
        self.model = model
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        self._inner = inner_optimizer(optimizer)
        self._variables = [*model.variables, *model.metrics_variables, *optimizer.variables]
        self._steps_per_execution = model.steps_per_execution
        self._schedule = schedule_of(optimizer)
        self._saved = None

    def __enter__(self):
        self._saved = [keras.ops.convert_to_numpy(v).copy() for v in self._variables]
        self._random = random_states.capture()
        self.model.steps_per_execution = 1
        if self._steps_per_execution != 1:
            self.model.make_train_function(force=True)
        return self

    def sweep(self, start, stop, steps):
        """Sets the rates of the next `steps` steps, from `start` to `stop` exponentially.

        Returns:
            `set_rate(rate)`, to call before each step (a schedule's rates follow the step count instead).
        """
        if self._schedule is None:
            return lambda rate: setattr(self._inner, "learning_rate", rate)
        self._follow(SweepRates(start, stop, steps, self._step()))
        return lambda rate: None

    def constant(self, rate):
        """Sets one rate for every step from now on."""
        if self._schedule is None:
            self._inner.learning_rate = rate
        else:
            self._follow(SweepRates(rate, rate, 1, self._step()))

    def _follow(self, schedule):
        self._inner.learning_rate = schedule
        self.model.make_train_function(force=True)  # the training step reads the schedule when it is traced

    def _step(self):
        return int(keras.ops.convert_to_numpy(self._inner.iterations))

    def reset(self):
        """Puts every variable and random state back as it was when the steps began."""
        self.model.reset_metrics()  # metrics built while stepping start from zero, as before their first fit
        for variable, value in zip(self._variables, self._saved, strict=True):
            variable.assign(value)
        random_states.restore(self._random)

    def __exit__(self, *exc_info):
        self.model.steps_per_execution = self._steps_per_execution
        if self._schedule is not None:
            self._inner.learning_rate = self._schedule
        self.reset()
        if self._steps_per_execution != 1 or self._schedule is not None:
            self.model.train_function = None  # made again, as compiled, by the next fit
        return False
