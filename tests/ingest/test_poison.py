"""Poison records against the real broker: oversized, huge strings, wrong keys.

Settings as in test_service.py (window_s=1.6, step_s=0.8 at 20 fps: 32-frame windows every
16 frames, partial windows of >= 16 frames flushed after 1 s idle), default size limits
(max_record_bytes 64 KiB, max_stream_id_chars 256, max_layout_chars 128, dlq_max_payload_bytes
64 KiB, dlq_max_detail_bytes 1 KiB). The good stream's 48 frames make windows 0..31 and
16..47 and the partial 32..47: 3 windows.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from ingest.codec import encode_frame
from ingest.settings import IngestSettings
from protos.mochat.v1 import frames_pb2
from tests.ingest.helpers import committed_offsets, read_topic, running_ingest, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]
MIB = 1024 * 1024
POSE = np.eye(22, 3, dtype=np.float32)


def frame(stream_id: str, index: int, *, layout: str = "smpl22") -> bytes:
    return encode_frame(stream_id, index, POSE + 0.01 * index, layout=layout,
                        capture_time_us=index, fps=20.0)


def poison() -> list[tuple[str, bytes, bytes]]:
    """(expected reason, key, value) of each poison record."""
    huge_id = "s" * MIB
    return [
        ("too_large", b"junk", np.random.default_rng(0).bytes(MIB + 100_000)),  # 1.1 MiB
        ("too_large", b"huge-id", frame(huge_id, 0)),  # a 1 MB stream id, short key
        ("too_large", b"lay", frame("lay", 0, layout="x" * MIB)),  # a 1 MB layout name
        ("too_long", b"L" * 300, frame("L" * 300, 0)),  # over 256 characters, under 64 KiB
        ("key_mismatch", b"other", frame("mine", 0)),
    ]


async def produce(settings: IngestSettings, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs(), acks="all",
                                max_request_size=4 * MIB)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.frames_topic, value, key=key)
    finally:
        await producer.stop()


async def test_poison_records_are_dead_lettered_and_the_good_stream_is_windowed(
        kafka_topics, make_settings, encoder_address: str) -> None:
    settings = make_settings(kafka_topics(frames=1, features=1), encoder_address)
    bad = poison()
    records: list[tuple[bytes, bytes]] = []
    for i in range(48):  # one partition: a poison record every 8 good frames
        records.append((b"good", frame("good", i)))
        if i % 8 == 4 and i // 8 < len(bad):
            records.append(bad[i // 8][1:])
    await produce(settings, records)
    async with running_ingest(settings) as service:
        dlq = await read_topic(settings.kafka.bootstrap_servers, settings.dlq_topic,
                               until=lambda r: len(r) >= len(bad))
        feats = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                 until=lambda r: len(r) >= 3)
        assert await wait_until(lambda: not service._dlq_tasks, 5.0)  # noqa: SLF001
        assert service.error is None  # it stayed up
    windows = sorted(frames_pb2.MotionFeatures.FromString(r.value).window_id for r in feats)
    assert windows == ["good:0", "good:16", "good:32"]
    headers = [dict(r.headers) for r in dlq]
    assert [h["reason"].decode() for h in headers] == [reason for reason, *_ in bad]
    for h, r, (_, key, value) in zip(headers, dlq, bad, strict=True):
        assert 0 < len(h["detail"]) <= 1024
        assert int(h["original_bytes"]) == len(value)
        assert r.value == value[:64 * 1024]  # the first 64 KiB of the original
        assert r.key == key[:1024]
        assert len(r.value) + sum(len(v) for v in h.values()) < 70 * 1024
    assert headers[0]["truncated"] == b"value"
    # every record was committed (offsets start at 0: 48 good + 5 poison)
    done = await committed_offsets(settings.kafka.bootstrap_servers, settings.frames_topic,
                                   settings.group_id)
    assert sum(off or 0 for off in done.values()) == len(records)
    # a restart reads nothing again and does not fail
    async with running_ingest(settings) as again:
        assert await wait_until(lambda: bool(again.partitions), 10.0)
        await produce(settings, [bad[0][1:]])
        assert await wait_until(
            lambda: again.metrics.dead_letters.labels("too_large")._value.get() == 1,  # noqa: SLF001
            10.0)
        assert again.error is None


async def test_a_features_record_over_max_request_bytes_is_dead_lettered_not_fatal(
        kafka_topics, make_settings, encoder_address: str) -> None:
    # A 32-frame window of this encoder's 32-d features is a ~4.4 KB record. The service
    # starts with a valid 64 KiB limit (its producer keeps that one); its own check is then
    # lowered to 2,000 bytes, so every window's record is over it and must be refused before
    # the producer sees it: 3 dead letters (their payload cut to 1 KiB), no crash.
    settings = make_settings(kafka_topics(frames=1, features=1), encoder_address,
                             max_request_bytes=64 * 1024, dlq_max_payload_bytes=1024)
    async with running_ingest(settings) as service:
        service.settings = settings.model_copy(update={"max_request_bytes": 2000})
        await produce(settings, [(b"good", frame("good", i)) for i in range(48)])
        dlq = await read_topic(settings.kafka.bootstrap_servers, settings.dlq_topic,
                               until=lambda r: len(r) >= 3)
        assert service.error is None
    reasons = [dict(r.headers)["reason"] for r in dlq]
    assert reasons == [b"features_too_large"] * 3
    assert all(len(r.value) <= 1024 for r in dlq)
    done = await committed_offsets(settings.kafka.bootstrap_servers, settings.frames_topic,
                                   settings.group_id)
    assert sum(off or 0 for off in done.values()) == 48
