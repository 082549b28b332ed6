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


def _events(folder):
    """Every event of the one event file in `folder`, as TensorBoard's own loader reads it (no TensorFlow)."""
    import os

    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    (name,) = os.listdir(folder)
    return list(EventFileLoader(os.path.join(folder, name)).Load())


def test_every_kind_of_summary_reads_back_with_its_tag_plugin_and_times(tmp_path):
    from PIL import Image
    from tensorboard.plugins.custom_scalar import layout_pb2

    from polykeras.tensorboard.events import scalar_value

    wide, tall = np.zeros((2, 5), np.uint8), Image.fromarray(np.full((4, 3), 9, np.uint8))
    with EventWriter(tmp_path) as writer:
        writer.write([scalar_value("loss", 0.5), histogram_summary("w", np.ones((2, 3)))], step=2)
        writer.write([image_summary("pic", [wide, tall], description="what it shows")], step=3, wall_time=5.0)
        writer.write(
            [
                layout_summary([("weights", [multiline_chart("norms", r"^weight_norm/", r"^grad/")])]),
                keras_model_summary('{"class_name": "Sequential"}', tag="keras"),
            ],
            step=4,
        )
    first, *events = _events(tmp_path)
    assert first.file_version == "brain.Event:2" and first.wall_time > 1.7e9
    assert [e.step for e in events] == [2, 3, 4] and events[0].wall_time > 1.7e9 and events[1].wall_time == 5.0
    values = [v for e in events for v in e.summary.value]
    assert [v.tag for v in values] == ["loss", "w", "pic", "custom_scalars__config__", "keras"]
    plugins = [v.metadata.plugin_data.plugin_name for v in values]
    assert plugins == ["scalars", "histograms", "images", "custom_scalars", "graph_keras_model"]
    loss, histogram, pictures, layout, model = values
    assert tensor_util.make_ndarray(loss.tensor) == np.float32(0.5)
    # Six equal values: one unit wide around them, every value in one bucket.
    table = tensor_util.make_ndarray(histogram.tensor)
    assert table[0, 0] == 0.5 and table[-1, 1] == 1.5 and table[:, 2].sum() == 6
    assert histogram.metadata.display_name == "w"
    strings = tensor_util.make_ndarray(pictures.tensor)
    assert [int(s) for s in strings[:2]] == [5, 2] and len(strings) == 4  # the first image's width and height
    np.testing.assert_array_equal(decode_image(strings[1:]), np.asarray(tall))  # the second image
    assert pictures.metadata.display_name == "pic" and pictures.metadata.summary_description == "what it shows"
    parsed = layout_pb2.Layout.FromString(tensor_util.make_ndarray(layout.tensor).item())
    (category,) = parsed.category
    assert category.title == "weights" and [c.title for c in category.chart] == ["norms"]
    assert list(category.chart[0].multiline.tag) == [r"^weight_norm/", r"^grad/"]
    assert model.metadata.plugin_data.content == b"1"
    assert json.loads(tensor_util.make_ndarray(model.tensor).item()) == {"class_name": "Sequential"}


def test_an_empty_histogram_spans_one_unit_around_zero():
    table = tensor_util.make_ndarray(histogram_summary("h", []).value[0].tensor)
    assert table[0, 0] == -0.5 and table[-1, 1] == 0.5 and table[:, 2].sum() == 0


def test_a_value_beyond_float32_is_inf_without_a_warning():
    import warnings

    from polykeras.tensorboard.events import scalar_value

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tensor_util.make_ndarray(scalar_value("x", 1e39).tensor) == np.inf


def test_every_record_length_and_checksum_is_framed_as_tensorboard_frames_it():
    import io as _io

    from tensorboard.summary.writer.record_writer import RecordWriter

    from polykeras.tensorboard.events import record

    for n in range(64):  # checksums above 2**31 among them
        data = bytes(range(n))
        buffer = _io.BytesIO()
        RecordWriter(buffer).write(data)
        assert record(data) == buffer.getvalue()


def test_one_array_is_one_image():
    strings = tensor_util.make_ndarray(image_summary("p", np.zeros((2, 5), np.uint8)).value[0].tensor)
    assert len(strings) == 3 and [int(s) for s in strings[:2]] == [5, 2]
