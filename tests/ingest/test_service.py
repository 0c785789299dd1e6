"""The ingest service against the real broker and a real encoder service.

Settings of every test: window_s=1.6, step_s=0.8, min_s=0.8, grace_ms=100, idle flush after
1 s; at the 20 fps of these streams window_frames=32, step_frames=16, min_frames=16,
grace_frames=2. A 100-frame stream therefore yields windows starting at
0, 16, 32, 48, 64 (complete: 64 + 31 = 95 <= 99) and a partial window 80..99 (20 frames)
when the stream goes quiet: 6 windows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from ingest.replay import load_streams, replay_to_kafka
from ingest.settings import IngestSettings
from mochat.skeleton import SMPL22, normalize
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
EXPECTED_FIRST_FRAMES = [0, 16, 32, 48, 64, 80]  # see the module docstring


def features_of(records) -> list[frames_pb2.MotionFeatures]:  # noqa: ANN001
    return [frames_pb2.MotionFeatures.FromString(r.value) for r in records]


async def all_committed(settings: IngestSettings, records: int) -> bool:
    """Offsets start at 0 per partition, so the commits sum to the records consumed.

    (Tansu's ListOffsets answers the end of a partition per batch, not per record, so the
    end offsets cannot be compared.)
    """
    done = await committed_offsets(settings.kafka.bootstrap_servers, settings.frames_topic,
                                   settings.group_id)
    return sum(off or 0 for off in done.values()) == records


def expected_features(model: Path, joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) world joints -> (T, D) by ONNX Runtime in-process, no padding."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = normalize(joints, SMPL22)[None]  # (1, T, J, 3)
    return session.run(None, {"joints": x, "mask": np.ones(x.shape[:2], bool)})[0][0]


async def test_replayed_file_yields_exactly_the_expected_windows_and_features(
        tmp_path: Path, kafka_topics, make_settings, encoder_address: str,
        encoder_model: Path) -> None:
    path = motion_file(tmp_path / "walk.npy", 100)
    settings = make_settings(kafka_topics(frames=2, features=2), encoder_address)
    streams = load_streams([path], streams=2, fps=20.0)  # .npy is 20 fps: no resampling
    async with running_ingest(settings):
        await replay_to_kafka(streams, settings.frames_topic, settings.kafka.client_kwargs(),
                              realtime=False)
        records = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                   until=lambda r: len(r) >= 12)
        assert await wait_until_async(lambda: all_committed(settings, 200), 10.0)
    # everything committed means everything delivered: read again and count exactly
    records = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                               until=lambda r: len(r) >= 12, timeout_s=2.0)
    feats = features_of(records)
    want = {f"replay-{s}:{f}" for s in (0, 1) for f in EXPECTED_FIRST_FRAMES}
    assert sorted(f.window_id for f in feats) == sorted(want)  # no loss, no duplicate
    assert all(r.key == f.stream_id.encode() for r, f in zip(records, feats, strict=True))
    joints = np.load(path)
    for msg in feats:
        last = 99 if msg.first_frame == 80 else msg.first_frame + 31
        assert (msg.last_frame, msg.fps, msg.layout) == (last, 20.0, "smpl22")
        got = features_from_proto(msg)
        ref = expected_features(encoder_model, joints[msg.first_frame:last + 1])
        assert got.shape == ref.shape == (last - msg.first_frame + 1, 32)
        np.testing.assert_allclose(got, ref, atol=1e-4)


async def wait_until_async(predicate, timeout_s: float) -> bool:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


def bad_records() -> list[tuple[str, bytes]]:
    """(expected reason, record value) for each kind of malformed frame."""
    from ingest.codec import encode_frame

    good = np.zeros((22, 3), np.float32)
    nan = good.copy()
    nan[3, 1] = np.nan
    kw = dict(capture_time_us=0, fps=20.0)
    return [
        ("undecodable", b"\xff\xfe not a protobuf"),
        ("non_finite", encode_frame("bad", 0, nan, layout="smpl22", **kw)),
        ("wrong_joint_count", encode_frame("bad", 1, np.zeros((25, 3), np.float32),
                                           layout="smpl22", **kw)),
        ("unknown_layout", encode_frame("bad", 2, good, layout="octopus8", **kw)),
        ("absurd_frame_index", encode_frame("bad", -5, good, layout="smpl22", **kw)),
        # the good stream is at frames 0..47: 10**9 is far beyond max_jump_frames
        ("absurd_frame_index", encode_frame("good", 10**9, good, layout="smpl22", **kw)),
    ]


async def test_malformed_frames_go_to_the_dead_letter_topic(
        kafka_topics, make_settings, encoder_address: str) -> None:
    from aiokafka import AIOKafkaProducer

    from ingest.codec import encode_frame

    settings = make_settings(kafka_topics(frames=1, features=1), encoder_address)
    bad = bad_records()
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs(), acks="all")
    await producer.start()
    try:
        for i in range(48):  # good stream interleaved with a bad record every 8 frames
            pose = np.full((22, 3), 0.01 * i, np.float32) + np.eye(22, 3, dtype=np.float32)
            await producer.send(settings.frames_topic, encode_frame(
                "good", i, pose, layout="smpl22", capture_time_us=i, fps=20.0), key=b"good")
            if i % 8 == 7:  # each keyed by its stream (a key that is not is key_mismatch)
                await producer.send(settings.frames_topic, bad[i // 8][1],
                                    key=b"good" if i // 8 == 5 else b"bad")
        await producer.flush()
    finally:
        await producer.stop()
    async with running_ingest(settings) as service:
        dlq = await read_topic(settings.kafka.bootstrap_servers, settings.dlq_topic,
                               until=lambda r: len(r) >= len(bad))
        # 48 good frames: complete windows 0..31, 16..47; partial 32..47 (16 frames) at idle
        feats = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                 until=lambda r: len(r) >= 3)
        assert await wait_until(lambda: not service._dlq_tasks, 5.0)  # noqa: SLF001
    assert [dict(r.headers)["reason"].decode() for r in dlq] == [reason for reason, _ in bad]
    assert [r.value for r in dlq] == [value for _, value in bad]  # original bytes intact
    assert all(dict(r.headers)["detail"] for r in dlq)
    assert sorted(f.window_id for f in features_of(feats)) == ["good:0", "good:16", "good:32"]


async def test_slow_encoder_pauses_consumption_then_nothing_is_lost(
        tmp_path: Path, kafka_topics, make_settings, encoder_model: Path) -> None:
    from ingest.broker import free_port
    from tests.ingest.helpers import start_encoder, stop_process, wait_serving

    port = free_port()  # nothing listens here yet: Encode calls wait for the encoder
    settings = make_settings(kafka_topics(frames=1, features=1), f"127.0.0.1:{port}",
                             max_inflight_windows=4, encoder_max_batch=2,
                             encoder_concurrency=1)
    streams = load_streams([motion_file(tmp_path / "m.npy", 100)], streams=4, fps=20.0)
    async with running_ingest(settings) as service:
        await replay_to_kafka(streams, settings.frames_topic, settings.kafka.client_kwargs(),
                              realtime=False)
        assert await wait_until(lambda: service._paused, 10.0)  # noqa: SLF001
        consumed = service.metrics.frames.labels("accepted")._value.get()  # noqa: SLF001
        await asyncio.sleep(1.0)
        assert service.metrics.frames.labels("accepted")._value.get() == consumed  # noqa: SLF001
        # the 4 streams' first windows close together at their frame 33 (31 + grace 2): the
        # 4th window reaches the limit, and reading stops there, at about 4 * 34 frames
        assert service._in_flight == 4  # noqa: SLF001
        assert consumed <= 4 * 34
        proc = start_encoder(encoder_model, port, tmp_path / "encoder.log")
        try:
            await asyncio.to_thread(wait_serving, f"127.0.0.1:{port}", proc)
            records = await read_topic(settings.kafka.bootstrap_servers,
                                       settings.features_topic, until=lambda r: len(r) >= 24)
        finally:
            stop_process(proc)
    want = {f"replay-{s}:{f}" for s in range(4) for f in EXPECTED_FIRST_FRAMES}
    assert {f.window_id for f in features_of(records)} == want
