"""TensorBoard summaries built from NumPy, and the event file they are written to, without TensorFlow.

Every summary is made with TensorBoard's own protobuf helpers (the ones its
`summary_v2` modules use), so TensorBoard reads them exactly as it reads
Keras's: scalars, histograms, images, text, the custom-scalars layout and the
`keras` model graph. `EventWriter` writes them in TensorBoard's record format
with plain files, so logging works the same, and as fast, on every backend.

Example:

>>> import tempfile
>>> from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
>>> folder = tempfile.mkdtemp()
>>> with EventWriter(folder) as writer:
...     writer.write([scalar_value("epoch_loss", 0.5)], step=1)
>>> run = EventAccumulator(folder); _ = run.Reload()
>>> run.Tags()["tensors"]
['epoch_loss']
"""

import functools
import io
import itertools
import os
import socket
import struct
import time

import google_crc32c
import numpy as np
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.util import tensor_util

HISTOGRAM_BUCKETS = 30

_SCALAR_METADATA = scalar_pb("_", 0.0).value[0].metadata


_FLOAT_SCALAR = tensor_util.make_tensor_proto(np.float32(0.0))
_TEXT = text_pb("_", "").value[0]
_TABLE = tensor_util.make_tensor_proto(np.zeros((1, 3)), dtype=np.float64)  # a histogram's dtype


def scalar_value(tag, value):
    """A scalar as a `Summary.Value`, the proto `scalar_pb` makes, built without `make_tensor_proto`'s checks."""
    with np.errstate(over="ignore"):  # beyond float32's range is inf, as TensorBoard stores it
        value = float(np.float32(value))
    tensor = type(_FLOAT_SCALAR)(dtype=_FLOAT_SCALAR.dtype, tensor_shape=_FLOAT_SCALAR.tensor_shape, float_val=[value])
    return summary_pb2.Summary.Value(tag=tag, metadata=_SCALAR_METADATA, tensor=tensor)


def text_value(tag, text):
    """A text summary as a `Summary.Value`, the proto `text_pb` makes, built without `make_tensor_proto`."""
    tensor = type(_TEXT.tensor)(
        dtype=_TEXT.tensor.dtype, tensor_shape=_TEXT.tensor.tensor_shape, string_val=[text.encode()]
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=_TEXT.metadata, tensor=tensor)


def histogram_summary(tag, values, buckets=HISTOGRAM_BUCKETS):
    """A histogram summary of `values` (any shape), computed with `np.histogram`."""
    values = np.asarray(values).reshape(-1)
    values = values[np.isfinite(values)]  # a diverged weight (NaN, inf) leaves only its finite values
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(values, bins=buckets, range=(low, high))
    return histogram_from_counts(tag, counts, edges)


def histogram_from_counts(tag, counts, edges):
    """A histogram summary from bucket counts and their `len(counts) + 1` edges (computed elsewhere: on the device)."""
    edges = np.asarray(edges, np.float64)
    table = np.stack([edges[:-1], edges[1:], np.asarray(counts, np.float64)], axis=1)
    shape = type(_TABLE.tensor_shape)(dim=[type(_TABLE.tensor_shape.dim[0])(size=n) for n in table.shape])
    tensor = type(_TABLE)(dtype=_TABLE.dtype, tensor_shape=shape, tensor_content=table.astype("<f8").tobytes())
    return summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, metadata=_histogram_metadata(tag), tensor=tensor)]
    )


@functools.lru_cache(maxsize=4096)
def _histogram_metadata(tag):
    return histogram_metadata.create_summary_metadata(display_name=tag, description="")


def image_summary(tag, pixels, description=""):
    """An image summary of uint8 pixels: one `(height, width)` or `(height, width, 3)` array or PIL image, or a list.

    Several images go into one summary, as `tf.summary.image` writes a batch.
    """
    images = pixels if isinstance(pixels, (list, tuple)) else [pixels]
    images = [image if isinstance(image, Image.Image) else Image.fromarray(image) for image in images]
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        encoded.append(buffer.getvalue())
    width, height = images[0].size
    tensor = tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), *encoded])
    value = summary_pb2.Summary.Value(
        tag=tag,
        metadata=image_metadata.create_summary_metadata(display_name=tag, description=description),
        tensor=tensor,
    )
    return summary_pb2.Summary(value=[value])


def multiline_chart(title, *patterns):
    """A custom-scalars chart drawing every scalar whose tag matches one of the regular expressions."""
    return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=list(patterns)))


def layout_summary(categories):
    """The custom-scalars layout (one per run): `[(category title, [chart, ...]), ...]`."""
    layout = layout_pb2.Layout(
        category=[layout_pb2.Category(title=title, chart=charts) for title, charts in categories]
    )
    value = summary_pb2.Summary.Value(
        tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
        metadata=custom_scalar_metadata.create_summary_metadata(),
        tensor=tensor_util.make_tensor_proto(layout.SerializeToString()),
    )
    return summary_pb2.Summary(value=[value])


def keras_model_summary(model_json, tag="keras"):
    """The model's JSON config for TensorBoard's conceptual graph, as Keras's `keras_model_summary` writes it."""
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "graph_keras_model"
    metadata.plugin_data.content = b"1"
    value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(model_json))
    return summary_pb2.Summary(value=[value])


def _masked_crc(data):
    """TFRecord's checksum: CRC32C, rotated right by 15 bits, plus a constant."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def record(data):
    """One TFRecord: length, its checksum, the data, its checksum (as TensorBoard's `RecordWriter` frames it)."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))


class EventWriter:
    """Writes summaries to a new event file in `log_dir`, in TensorBoard's record format.

    TensorBoard's own `EventFileWriter` opens files through `tf.io.gfile`,
    which imports TensorFlow, and its `RecordWriter` computes checksums in pure
    Python (13 ms for a short fit's images); this writer uses plain files and
    `google_crc32c`. The file is named as `EventFileWriter` names it.
    """

    _count = itertools.count()

    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(self._count)}"
        self._file = open(os.path.join(log_dir, name), "wb")
        self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _add(self, event):
        self._file.write(record(event.SerializeToString()))

    def flush(self):
        """Puts what was written so far where TensorBoard reads it."""
        self._file.flush()

    def write(self, values, step, wall_time=None):
        """Writes summary values (or whole summaries) for one step as one event."""
        summary = summary_pb2.Summary()
        for value in values:
            if isinstance(value, summary_pb2.Summary):
                summary.value.extend(value.value)
            else:
                summary.value.append(value)
        self._add(event_pb2.Event(wall_time=wall_time or time.time(), step=int(step), summary=summary))

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
