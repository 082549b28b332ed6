"""PyTorch's way: autograd records every operation on tensors that require a gradient, and `backward()` fills in
`.grad`.

Keras keeps each trainable variable as a `torch.nn.Parameter` with
`requires_grad=True` and each non-trainable one with `requires_grad=False`, so
after Keras's torch trainer calls `loss.backward()` only the trainable ones
hold a `.grad`, and the optimizer updates those alone.
"""

import keras
import numpy as np
import torch

from polykeras.backend.common import HostSums, gradient_norm_name, loss_tracker, shuffled_batches

# Where the TensorBoard callback computes the fixed batch (`batch_function`): on the training thread, at the log
# point. PyTorch's eager ops on the writer thread start a second pool of math threads beside training's, and the
# two busy-wait for the same cores (recipe's model, 20 epochs on 2 cores: 0.81x a plain fit's throughput).
PROBE_THREAD = "training"


def polynomial_train_step(model, data):
    """`model.steps_per_batch` descent steps on one batch, each one forward pass, `backward()` and update.

    Returns:
        The logs: the metrics and `gradient_norm/<coefficients' path>`.
    """
    x, y = data[:2]
    variable = model.polynomial.basis_coefficients
    for _ in range(model.steps_per_batch):
        model.zero_grad()  # torch adds each backward() to .grad: clear the last step's first
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
        loss.backward()
        trainable = model.trainable_variables
        with torch.no_grad():
            norm = torch.linalg.vector_norm(variable.value.grad)
            model.optimizer.apply([v.value.grad for v in trainable], trainable)
        loss_tracker(model).update_state(loss.detach())  # compute_loss leaves the tracker to the caller
    # The gradient norm rides along in the logs, where the TensorBoard callback finds it.
    return {**model.get_metrics_result(), gradient_norm_name(variable): norm}


def batch_function(model, x, y, probe=None, gradients=True, loss=None, jit=True, summarize=None):
    """A function of the model's weight values returning `(gradients, outputs)` on a fixed batch.

    One forward pass (and, with `gradients`, one `torch.autograd.grad`) per
    call, on tensors made from the given values: the model computes with them
    inside a `keras.StatelessScope`, so its own variables are only read, and
    `run` may be called from another thread while the model trains. `jit` is
    accepted for the other backends' signature; PyTorch runs eagerly.

    Args:
        model: A built Keras model.
        x: Inputs, in any structure the model takes (several inputs too).
        y: Targets, in the form the loss takes.
        probe: A `keras.Model` sharing the model's layers whose outputs on
            `x` are wanted too (inference mode), or None.
        gradients: Whether to compute the loss's gradient for each trainable
            variable (zeros where none flows).
        loss: `loss(y_true, y_pred)`; default the model's compiled loss.
        jit: Ignored (PyTorch has no compiled function here).
        summarize: A function of one probe output (in `keras.ops`), applied
            before anything leaves the device.

    Returns:
        `run(weights=None)`, returning `(gradients, outputs)`: a list of
        NumPy arrays, and one per probe output (or a list of them, with
        `summarize`). `weights` are values of `model.variables`, in order;
        by default the current ones.
    """
    x, y = (keras.tree.map_structure(lambda a: keras.ops.convert_to_tensor(np.asarray(a)), data) for data in (x, y))
    trainable, non_trainable = model.trainable_variables, model.non_trainable_variables

    def run(weights=None):
        if weights is None:
            values = {id(v): v.value.detach() for v in model.variables}
        else:
            values = {
                id(v): keras.ops.convert_to_tensor(w, dtype=v.dtype)
                for v, w in zip(model.variables, weights, strict=True)
            }
        watched = [values[id(v)].detach().clone().requires_grad_(gradients) for v in trainable]
        mapping = list(zip(trainable, watched, strict=True)) + [(v, values[id(v)]) for v in non_trainable]
        with torch.set_grad_enabled(gradients), keras.StatelessScope(state_mapping=mapping):
            with torch.no_grad():  # the probe's outputs need no gradient
                outputs = [] if probe is None else keras.tree.flatten(probe(x, training=False))
                if summarize is not None:
                    outputs = [summarize(output) for output in outputs]
            if gradients:
                y_pred = model(x, training=False)
                value = model.compute_loss(x=x, y=y, y_pred=y_pred) if loss is None else loss(y, y_pred)
        found = []
        if gradients:
            found = torch.autograd.grad(value, watched, allow_unused=True)
            found = [torch.zeros_like(w) if g is None else g for g, w in zip(found, watched, strict=True)]
        return [_numpy(g) for g in found], keras.tree.map_structure(_numpy, outputs)

    return run


def _numpy(tensor):
    return tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)


def gradient_by_variable(model, x, y):
    """`{variable path: gradient}` over all of the model's variables, None where `backward()` leaves no `.grad`.

    Autograd records the loss's computation from every tensor that requires a
    gradient; `backward()` then fills in `.grad` on those alone. Keras makes
    the trainable variables such tensors and the non-trainable ones not, so
    these get no `.grad`: the optimizer leaves them alone.
    """
    x, y = (keras.ops.convert_to_tensor(np.asarray(a)) for a in (x, y))
    model.zero_grad()
    loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    loss.backward()
    found = {v.path: None if v.value.grad is None else _numpy(v.value.grad).copy() for v in model.weights}
    model.zero_grad()
    return found


def fused(function):
    """`function` as it is: PyTorch runs it eagerly, op by op."""
    return function


def jit(function):
    """`function` as it is (`torch.compile` costs seconds per shape, more than the small functions it would serve)."""
    return function


def steps_per_execution(steps):
    """Training steps Keras runs per call, for `steps` wanted: one, the only number Keras's PyTorch trainer takes."""
    return 1


def adopt(model):
    """A model loaded from a `.keras` file saved on any backend, run eagerly, as Keras runs its own models on PyTorch.

    Keras saves `jit_compile` resolved: a model compiled on JAX (or on TensorFlow with XLA)
    says True, which on PyTorch means `torch.compile`, 15 s of compiling per input shape on
    a CPU before its first prediction. A PyTorch model that asked for it explicitly loses it
    too: the file does not say which it was."""
    if model.compiled and model.jit_compile:
        model.jit_compile = False
    return model


def random_state():
    """The random state Keras draws from outside its variables: torch's global generators, as NumPy arrays.

    Keras's dropout without a seed of its own draws from them on PyTorch
    (`torch.nn.functional.dropout`), where the other backends advance a
    seed-generator variable; so does the `DataLoader` that shuffles `fit`'s arrays.
    """
    state = {"torch": torch.random.get_rng_state().numpy()}
    if torch.cuda.is_available():
        state.update({f"torch_cuda_{k}": s.numpy() for k, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def set_random_state(state):
    """Puts back what `random_state` returned."""
    torch.random.set_rng_state(torch.from_numpy(np.asarray(state["torch"], np.uint8)))
    cuda = [state[f"torch_cuda_{k}"] for k in range(len(state) - 1)]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.from_numpy(np.asarray(s, np.uint8)) for s in cuda])


def read_variable(variable):
    """A NumPy copy of a Keras variable's current value (`.numpy()` alone would share the parameter's memory)."""
    return variable.value.detach().cpu().numpy().copy()


# Batches from a generator: Keras would cast NumPy arrays to float32.
fit_inputs = shuffled_batches


class _TensorSums(HostSums):
    """Sums kept as tensors on their device until taken."""

    def add(self, name, value):
        if isinstance(value, torch.Tensor):
            if value.device.type == "meta":
                return  # Keras working out the model's shapes, with no values
            value = value.detach()
        super().add(name, value)


def summary_sums():
    """Where `polykeras.summary.scalar` adds: tensors summed as they come (PyTorch runs eagerly)."""
    return _TensorSums()


def native_summaries(log_dir, step, every):
    """None: TensorFlow's `tf.summary` is TensorFlow's (`polykeras.summary.scalar` is every backend's)."""
    return None
