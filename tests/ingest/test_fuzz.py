"""A few hundred malformed frame records (tests/fuzz_inputs.py) beside a good stream.

Every bad record must get a dead letter with one of its allowed reasons, the service must
stay up, and the good stream must get all its windows (test_service.py's settings: 100
frames at 20 fps -> windows at 0, 16, 32, 48, 64 and a partial one at 80).
"""

from __future__ import annotations

import asyncio

import pytest

from ingest.replay import load_streams, replay_to_kafka
from ingest.service import IngestService
from protos.mochat.v1 import frames_pb2
from tests.fuzz_inputs import frame_records
from tests.fuzz_run import account_dead_letters, produce_records
from tests.ingest.helpers import motion_file, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
RECORDS = 300


async def test_every_malformed_record_is_dead_lettered_with_a_reason(
        tmp_path, kafka_topics, make_settings, encoder_address: str) -> None:  # noqa: ANN001
    settings = make_settings(kafka_topics(frames=2, features=2), encoder_address)
    bad = frame_records(RECORDS, seed=0)
    good = load_streams([motion_file(tmp_path / "m.npy", 100)], streams=1, fps=20.0)
    service = IngestService(settings)
    await service.start()
    try:
        replaying = asyncio.create_task(replay_to_kafka(
            good, settings.frames_topic, settings.kafka.client_kwargs(), realtime=False))
        sources = await produce_records(settings.kafka.client_kwargs(), settings.frames_topic,
                                        bad)
        await replaying
        dlq = await read_topic(settings.kafka.bootstrap_servers, settings.dlq_topic,
                               until=lambda r: len(r) >= RECORDS, timeout_s=120.0)
        feats = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                 until=lambda r: {"replay-0:80"} <= _ids(r), timeout_s=30.0)
        assert service.error is None
    finally:
        await service.stop()
    report = account_dead_letters(bad, sources, dlq)
    assert not report.missing, report.missing[:5]
    assert not report.wrong_reason, report.wrong_reason[:5]
    assert report.accounted == RECORDS
    assert {f"replay-0:{f}" for f in (0, 16, 32, 48, 64, 80)} <= _ids(feats)


def _ids(records) -> set[str]:  # noqa: ANN001
    ids = {frames_pb2.MotionFeatures.FromString(r.value).window_id for r in records}
    return {i for i in ids if i.startswith("replay-")}
