"""FrameBatch records through the real service: the same windows as single frames, a bad
frame of a batch dead-lettered alone, whole-batch rejections with their reasons.

Settings as in test_service.py: 20 fps streams, window_frames=32, step_frames=16,
min_frames=16, grace_frames=2 (grace_ms=100), gaps up to 8 frames interpolated, idle flush
after 1 s. A 100-frame stream yields windows 0, 16, 32, 48, 64 and the partial 80..99.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from ingest.codec import FRAME_BATCH_HEADERS, encode_frame, encode_frame_batch
from ingest.replay import load_streams, replay_to_kafka
from ingest.settings import IngestSettings
from protos.convert import features_from_proto
from protos.mochat.v1 import frames_pb2
from tests.ingest.helpers import (
    committed_offsets,
    motion_file,
    read_topic,
    running_ingest,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]
Record = tuple[bytes, bytes, list[tuple[str, bytes]] | None]  # key, value, headers


async def produce(settings: IngestSettings, records: list[Record]) -> None:
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs(), acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send(settings.frames_topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


def motion(frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 22, 3) poses drifting 1 cm a frame, and their capture times (50 ms apart)."""
    base = np.random.default_rng(0).normal(scale=0.3, size=(1, 22, 3)).astype(np.float32)
    drift = np.zeros((frames, 1, 3), np.float32)
    drift[:, 0, 0] = 0.01 * np.arange(frames)
    return base + drift, 1_700_000_000_000_000 + 50_000 * np.arange(frames)


def batch(sid: str, joints: np.ndarray, times: np.ndarray, first: int, n: int, *,
          layout: str = "smpl22") -> Record:
    value = encode_frame_batch(sid, first, joints[first:first + n], layout=layout,
                               capture_times_us=times[first:first + n], fps=20.0)
    return sid.encode(), value, FRAME_BATCH_HEADERS


async def committed(settings: IngestSettings) -> int:
    done = await committed_offsets(settings.kafka.bootstrap_servers, settings.frames_topic,
                                   settings.group_id)
    return sum(off or 0 for off in done.values())


async def test_batches_give_the_windows_and_features_of_the_same_frames_sent_singly(
        tmp_path: Path, kafka_topics, make_settings, encoder_address: str) -> None:
    settings = make_settings(kafka_topics(frames=1, features=1), encoder_address)
    joints, times = motion(100)
    records: list[Record] = [
        (b"single", encode_frame("single", i, joints[i], layout="smpl22",
                                 capture_time_us=int(times[i]), fps=20.0), None)
        for i in range(100)]
    # "batched": the same frames in batches of 7 (across window edges), with a batch that
    # arrives before the one it follows (within the grace of 2 frames), then that one, then
    # a repeat of a held batch (2 duplicates) and one of final frames (6 late)
    order = [(0, 7), (9, 2), (7, 2), (9, 2), (3, 6)] + [(f, 7) for f in range(11, 100, 7)]
    records += [batch("batched", joints, times, f, min(n, 100 - f)) for f, n in order]
    # and `mochat replay --frames-per-record 6` of a 100-frame file: 17 FrameBatch records
    (replayed,) = load_streams([motion_file(tmp_path / "m.npy", 100)], streams=1,
                               prefix="replayed")
    async with running_ingest(settings) as service:
        await produce(settings, records)
        stats = await replay_to_kafka([replayed], settings.frames_topic,
                                      settings.kafka.client_kwargs(), realtime=False,
                                      frames_per_record=6)
        assert (stats.frames_sent, stats.records_sent) == (100, 17)
        feats = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                 until=lambda r: len(r) >= 18)
        frames = service.metrics.frames
        assert (frames.labels("late")._value.get(),  # noqa: SLF001
                frames.labels("duplicate")._value.get()) == (6, 2)  # noqa: SLF001
        assert frames.labels("rejected")._value.get() == 0  # noqa: SLF001
        assert service.error is None
    assert await committed(settings) == len(records) + 17
    by_stream: dict[str, dict[int, frames_pb2.MotionFeatures]] = {
        "single": {}, "batched": {}, "replayed-0": {}}
    for r in feats:
        msg = frames_pb2.MotionFeatures.FromString(r.value)
        by_stream[msg.stream_id][msg.first_frame] = msg
    assert sorted(by_stream["batched"]) == sorted(by_stream["single"]) == \
        sorted(by_stream["replayed-0"]) == [0, 16, 32, 48, 64, 80]
    for first, single in by_stream["single"].items():
        got = by_stream["batched"][first]
        assert got.window_id == f"batched:{first}"
        assert (got.last_frame, got.fps, got.first_capture_time_us, got.last_capture_time_us) \
            == (single.last_frame, single.fps, single.first_capture_time_us,
                single.last_capture_time_us)
        np.testing.assert_allclose(features_from_proto(got), features_from_proto(single),
                                   atol=1e-5)


async def test_a_bad_frame_of_a_batch_is_dead_lettered_alone_and_bad_batches_whole(
        kafka_topics, make_settings, encoder_address: str) -> None:
    settings = make_settings(kafka_topics(frames=1, features=1), encoder_address,
                             max_batch_frames=16)
    joints, times = motion(48)
    joints[19, 4, 1] = np.nan  # frame 19 of the batch 16..23
    empty = frames_pb2.FrameBatch(stream_id="good", layout="smpl22", fps=20.0)
    empty.joints.shape.extend([0, 22, 3])
    big, big_times = motion(300)
    ntu = np.zeros((48, 25, 3), np.float32)
    bad: list[tuple[str, Record]] = [  # (reason, record) after each good batch
        ("bad_shape", (b"good", empty.SerializeToString(), FRAME_BATCH_HEADERS)),
        ("too_large", batch("big", big, big_times, 0, 24)),  # over max_batch_frames
        ("too_large", batch("big", big, big_times, 0, 300)),  # 79 KB: over 64 KiB
        ("layout_changed", batch("good", ntu, times, 40, 4, layout="ntu25")),  # all 4 fail
        ("undecodable", (b"good", b"\x00", [("mochat-type", b"frame-bundle")])),
    ]
    records: list[Record] = []
    for k in range(6):  # good batches of 8, each followed by a bad record
        records.append(batch("good", joints, times, 8 * k, 8))
        if k < len(bad):
            records.append(bad[k][1])
    async with running_ingest(settings) as service:
        await produce(settings, records)
        dlq = await read_topic(settings.kafka.bootstrap_servers, settings.dlq_topic,
                               until=lambda r: len(r) >= len(bad) + 1)
        # 0..47 (19 filled in): windows 0..31, 16..47 and the partial 32..47 at idle
        feats = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                 until=lambda r: len(r) >= 3)
        assert await wait_until(lambda: not service._dlq_tasks, 5.0)  # noqa: SLF001
        assert service.error is None
    headers = [dict(r.headers) for r in dlq]
    # records: batch 0..7, empty, batch 8..15, too many frames, batch 16..23 (NaN 19), ...
    reasons = [reason for reason, _ in bad]
    assert [h["reason"].decode() for h in headers] == reasons[:2] + ["non_finite"] + \
        reasons[2:]
    nan, nan_header, nan_batch = dlq[2], headers[2], records[4]
    assert nan.key == b"good" and nan_header["frame_index"] == b"19"
    assert nan_header["source"].endswith(b"/0/4")  # the batch's offset
    assert int(nan_header["original_bytes"]) == len(nan_batch[1])
    one = frames_pb2.Frame.FromString(nan.value)  # the frame alone, as a Frame
    assert (one.stream_id, one.frame_index, one.capture_time_us) == ("good", 19, times[19])
    whole = [(h, r) for h, r in zip(headers, dlq, strict=True) if h is not nan_header]
    assert "max_batch_frames" in whole[1][0]["detail"].decode()
    assert "max_record_bytes" in whole[2][0]["detail"].decode()
    assert whole[3][0]["detail"].startswith(b"all 4 frames of the batch")
    # whole-record dead letters keep the record's bytes and name no frame
    for (h, r), (_, (_, value, _)) in zip(whole, bad, strict=True):
        assert "frame_index" not in h and r.value == value[:64 * 1024]
    windows = sorted(frames_pb2.MotionFeatures.FromString(r.value).window_id for r in feats)
    assert windows == ["good:0", "good:16", "good:32"]
    assert await committed(settings) == len(records)  # nothing stalled the partition
