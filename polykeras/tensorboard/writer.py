"""`SummaryWriter`: builds and writes a run's summaries on a thread of its own, so the training loop only queues them.

The callback's hooks queue, for a step, what they copied: callables that
build a summary (a histogram of weights copied at the log point, a
picture), or `(tag, number)` scalars. The thread builds and writes them to
one event file per sub-folder (`train/`, `validation/`), and makes what it
wrote visible to TensorBoard whenever it has caught up.

The thread starts when asked (`start`: the callback asks once an epoch is
long enough for it to keep up beside training) or at the end (`close`), which
writes everything queued, closes the files and returns once they are on disk.

Example:

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> summaries = SummaryWriter(folder)
>>> summaries.put([("epoch_loss", 0.5)], step=1)
>>> summaries.close()
>>> sorted(os.listdir(folder))
['train']
"""

import logging
import os
import queue
import threading
import time

from polykeras.tensorboard.events import EventWriter, scalar_value

logger = logging.getLogger(__name__)


class SummaryWriter:
    """The summaries of one run (one `fit`), built and written on a background thread.

    Args:
        root: The run's folder; `train/` and `validation/` go inside.
    """

    def __init__(self, root):
        self.root = os.path.abspath(root)  # as it is now: a later change of the working directory must not move it
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="polykeras-tensorboard")
        self.closed = False

    def put(self, values, step, writer="train"):
        """Queues the summaries of one step: callables returning a summary (or a list of values), or `(tag, number)`."""
        if values and not self.closed:
            self._queue.put((writer, int(step), time.time(), values))

    def start(self):
        """Starts writing now, beside training (otherwise `close` writes everything)."""
        if self._thread.ident is None:
            self._thread.start()

    @property
    def started(self):
        return self._thread.ident is not None

    def close(self):
        """Writes what was queued, closes the files and returns once they are on disk; later calls return at once."""
        if not self.closed:
            self.closed = True
            self._queue.put(None)
            self.start()
        self._thread.join()

    def _drain(self):
        writers = {}
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                # fit raised before on_train_end: stop once the program is ending.
                if not threading.main_thread().is_alive():
                    break
                continue
            if item is None:
                break
            writer, step, wall_time, values = item
            if writer not in writers:
                writers[writer] = EventWriter(os.path.join(self.root, writer))
            writers[writer].write(_built(values, step), step, wall_time)
            if self._queue.empty():  # caught up: TensorBoard shows it now
                for w in writers.values():
                    w.flush()
        for w in writers.values():
            w.close()


def _built(values, step):
    """The summaries of `values`; one that cannot be built (say, a NaN curve) is skipped, with a warning."""
    summaries = []
    for make in values:
        try:
            made = make() if callable(make) else scalar_value(*make) if isinstance(make, tuple) else make
        except Exception as e:  # one bad summary must not stop the others
            logger.warning("a TensorBoard summary at step %d was skipped: %s", step, e)
            continue
        summaries.extend(made if isinstance(made, list) else [made])
    return summaries
