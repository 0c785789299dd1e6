"""What the features consumer refuses to store: every MotionFeatures field is checked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from llm_service.consumer import FeatureChecks, RefusedRecord, decode_features
from protos.convert import array_to_proto
from protos.mochat.v1 import frames_pb2

# The model: rows at 20 fps, at most 64 of them, from encoder "jgse.onnx@v1".
CHECKS = FeatureChecks(feature_fps=20.0, max_rows=64, encoder="jgse.onnx@v1")


def record(rows: int = 64, *, dim: int = 4, **fields) -> SimpleNamespace:  # noqa: ANN003
    """A 120 fps window of 384 frames (64 rows at 20 fps) with `fields` overriding."""
    base = dict(stream_id="cam", window_id="cam:960", first_frame=960, last_frame=1343,
                fps=120.0, feature_fps=20.0, encoder="jgse.onnx@v1")
    msg = frames_pb2.MotionFeatures(**(base | fields))
    array_to_proto(np.zeros((rows, dim), np.float32), msg.features)
    return SimpleNamespace(value=msg.SerializeToString(), timestamp=5, partition=0, offset=0)


def refused(rec: SimpleNamespace) -> str:
    with pytest.raises(RefusedRecord) as err:
        decode_features(rec, CHECKS)
    assert len(str(err.value)) < 500  # ids are clipped in the message
    return err.value.reason


def test_a_good_record_is_decoded() -> None:
    view = decode_features(record(), CHECKS).view
    assert (view.num_rows, view.num_frames, view.feature_fps) == (64, 384, 20.0)


@pytest.mark.parametrize(("rec", "reason"), [
    (SimpleNamespace(value=b"\x08\xff\xff", timestamp=5), "invalid"),
    (record(stream_id=""), "invalid"),
    (record(window_id="w" * 1_000_000), "invalid"),  # ids over max_id_chars
    (record(last_frame=959), "invalid"),  # last before first: no frame
    (record(fps=float("nan")), "bad_rate"),
    (record(fps=float("inf")), "bad_rate"),
    (record(fps=-20.0), "bad_rate"),
    (record(fps=5000.0), "bad_rate"),
    (record(feature_fps=float("nan")), "bad_rate"),
    (record(feature_fps=-1.0), "bad_rate"),
    (record(feature_fps=30.0), "wrong_rate"),
    (record(encoder="forged"), "wrong_encoder"),
    (record(encoder=""), "wrong_encoder"),
    # 8,000 frames at 20 fps are 8,000 rows, over the model's 64
    (record(8000, first_frame=0, last_frame=7999, fps=20.0), "too_long"),
    # one row standing for 10**12 frames would make a 10**12-entry time array
    (record(1, first_frame=0, last_frame=10**12, fps=1000.0, feature_fps=20.0), "too_long"),
    (record(0), "invalid"),  # 0 rows where 64 are needed
    (record(63), "invalid"),
])
def test_each_refusal(rec: SimpleNamespace, reason: str) -> None:
    assert refused(rec) == reason


def test_non_finite_features_are_refused() -> None:
    msg = frames_pb2.MotionFeatures.FromString(record().value)
    values = np.zeros((64, 4), np.float32)
    values[10, 2] = np.nan
    array_to_proto(values, msg.features)
    assert refused(SimpleNamespace(value=msg.SerializeToString(), timestamp=5)) == "not_finite"


def test_without_an_expected_encoder_any_is_accepted() -> None:
    loose = FeatureChecks(feature_fps=20.0, max_rows=64)
    assert decode_features(record(encoder="other"), loose).encoder == "other"


@pytest.mark.kafka
@pytest.mark.asyncio(loop_scope="session")
async def test_refused_records_are_counted_and_never_stored(
        gated, tiny_checkpoint, kafka_bootstrap: str, kafka_topics) -> None:  # noqa: ANN001
    from tests.llm_service.conftest import running_server
    from tests.llm_service.test_kafka import _until, features_message, produce

    topic = kafka_topics(features=1)["features"]
    dim = gated.model.encoder.feature_dim
    good = np.zeros((64, dim), np.float32)
    nan = good.copy()
    nan[3, 3] = np.nan
    forged = frames_pb2.MotionFeatures.FromString(features_message("k", 200, good))
    forged.encoder = "someone-else"
    await produce(kafka_bootstrap, topic, [
        ("k", features_message("k", 200, good)),
        ("k", features_message("k", 10**9, good)),  # far ahead of frame 263: far_jump
        ("k", features_message("k", 300, nan)),  # not_finite
        ("k", features_message("k", 400, good[:0])),  # no rows: invalid
        ("k", forged.SerializeToString()),  # wrong_encoder
        ("k", features_message("k", 500, np.zeros((600, dim), np.float32))),  # too_long
    ])
    # the tiny checkpoint reads 20 fps rows; its features are stamped "tiny" (test_kafka)
    async with running_server(gated, tiny_checkpoint, consume=True, features_topic=topic,
                              features_encoder="tiny", kafka={"bootstrap_servers":
                                                              kafka_bootstrap}) as (server, _):
        value = server.metrics.value
        outcomes = ("added", "far_jump", "not_finite", "invalid", "wrong_encoder", "too_long")
        await _until(lambda: sum(value("mochat_llm_feature_records_total", outcome=o)
                                 for o in outcomes) == 6, 30)
        counts = {o: value("mochat_llm_feature_records_total", outcome=o) for o in outcomes}
        latest = server.runtime.store.latest("k")
        stored = server.runtime.store.stats().windows
    assert counts == dict.fromkeys(outcomes, 1.0)
    assert (latest.first_frame, stored) == (200, 1)  # the forged far window is not latest
