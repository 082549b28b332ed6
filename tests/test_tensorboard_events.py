"""Summaries built without TensorFlow, read back by TensorBoard's own reader."""

import json

import keras
import numpy as np
from helpers import decode_image, read_run
from tensorboard.util import tensor_util

from polykeras.tensorboard.events import (
    EventWriter,
    histogram_from_counts,
    histogram_summary,
    image_summary,
    keras_model_summary,
    layout_summary,
    multiline_chart,
    text_value,
)


def test_histogram_buckets_count_every_value():
    values = np.arange(1000.0)
    table = tensor_util.make_ndarray(histogram_summary("h", values).value[0].tensor)
    assert table.shape == (30, 3) and table[:, 2].sum() == 1000 and table[0, 0] == 0 and table[-1, 1] == 999
    constant = tensor_util.make_ndarray(histogram_summary("h", np.ones(5)).value[0].tensor)
    assert constant[:, 2].sum() == 5
    diverged = tensor_util.make_ndarray(histogram_summary("h", np.array([1.0, np.nan, np.inf, 2.0])).value[0].tensor)
    assert diverged[:, 2].sum() == 2


def test_images_layout_and_model_graph_read_back(tmp_path):
    first = np.arange(12, dtype=np.uint8).reshape(3, 4)
    with EventWriter(tmp_path) as writer:
        writer.write(
            [
                image_summary("pictures", [first, 255 - first]),
                layout_summary([("weights", [multiline_chart("norms", r"^weight_norm/")])]),
                keras_model_summary(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).to_json()),
            ],
            step=3,
        )
    run = read_run(tmp_path)
    step, pictures = run["pictures"][0]
    assert step == 3 and [int(v) for v in pictures[:2]] == [4, 3] and len(pictures) == 4
    np.testing.assert_array_equal(decode_image(pictures), first)
    assert json.loads(run["keras"][0][1].item())["class_name"] == "Sequential"
    assert "custom_scalars__config__" in run


def test_records_are_framed_as_tensorboards_record_writer_frames_them():
    import io as _io

    from tensorboard.summary.writer.record_writer import RecordWriter

    from polykeras.tensorboard.events import record

    data = bytes(range(256)) * 40
    buffer = _io.BytesIO()
    RecordWriter(buffer).write(data)
    assert record(data) == buffer.getvalue()


def test_scalars_are_the_protos_tensorboard_makes():
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb

    from polykeras.tensorboard.events import scalar_value

    for value in (0.5, -3, 1e39, float("nan")):
        expected = scalar_pb("loss", value).value[0]
        made = scalar_value("loss", value)
        assert made.tensor.SerializeToString() == expected.tensor.SerializeToString() or (
            value != value and np.isnan(tensor_util.make_ndarray(made.tensor))
        )
        assert made.metadata == expected.metadata


def test_text_and_histograms_are_the_protos_tensorboards_own_helpers_make():
    from tensorboard.plugins.histogram import metadata
    from tensorboard.plugins.text.summary_v2 import text_pb

    assert (
        text_value("fit/equation", "y = 1 + 2x").SerializeToString()
        == text_pb("fit/equation", "y = 1 + 2x").value[0].SerializeToString()
    )
    counts, edges = np.array([3, 0, 5]), np.array([-1.0, 0.0, 0.5, 2.0])
    made = histogram_from_counts("w/histogram", counts, edges).value[0]
    table = np.stack([edges[:-1], edges[1:], counts.astype(float)], axis=1)
    expected = tensor_util.make_tensor_proto(table, dtype=np.float64)
    assert made.tensor.SerializeToString() == expected.SerializeToString()
    assert made.metadata == metadata.create_summary_metadata(display_name="w/histogram", description="")
