"""TensorBoard logging for any Keras model, on TensorFlow, JAX and PyTorch, without TensorFlow.

- `events`: summaries built from NumPy and the event file they go to.
- `callback`: `TensorBoard`, the callback (Keras's arguments and tags).
- `panels`: what it writes beside the metrics, one class per panel, what a
  panel may look at (`Watched`), and `register_layer_panel` for panels that
  belong to a layer type.
- `probe`: the fixed batch, and its gradients and activations, computed
  from weights the training loop copied.
- `writer`: `SummaryWriter`, the thread that builds and writes the summaries.
"""

from polykeras.tensorboard.callback import DEFAULT_PANELS, TensorBoard
from polykeras.tensorboard.events import EventWriter
from polykeras.tensorboard.panels import Panel, register_layer_panel

__all__ = ["DEFAULT_PANELS", "EventWriter", "Panel", "TensorBoard", "register_layer_panel"]
