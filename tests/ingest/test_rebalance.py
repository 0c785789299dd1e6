"""A second worker joins mid-stream: partitions move, their state is dropped and replayed from
the committed offsets, and every expected window still arrives."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ingest.replay import load_streams, replay_to_kafka
from ingest.service import IngestService
from protos.mochat.v1 import frames_pb2
from tests.ingest.helpers import (
    SHORT_AT_120,
    expected_window_ids,
    motion_file,
    read_topic,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def window_ids(records) -> set[str]:  # noqa: ANN001
    return {frames_pb2.MotionFeatures.FromString(r.value).window_id for r in records}


async def test_partitions_move_to_a_new_worker_without_losing_windows(
        tmp_path: Path, kafka_topics, make_settings, encoder_address: str) -> None:
    settings = make_settings(kafka_topics(frames=4, features=2), encoder_address,
                             **SHORT_AT_120)
    streams = load_streams([motion_file(tmp_path / "m.npy", 100)], streams=8, fps=120.0)
    want = expected_window_ids(streams, settings)
    first, second = IngestService(settings), IngestService(settings)
    await first.start()
    try:
        producing = asyncio.create_task(replay_to_kafka(
            streams, settings.frames_topic, settings.kafka.client_kwargs()))
        await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                         until=lambda r: len(r) >= 8)
        await second.start()
        # the group rebalances: both workers end up with partitions, mid-stream
        assert await wait_until(lambda: first.partitions and second.partitions
                                and len(first.partitions) + len(second.partitions) == 4, 20.0)
        assert not producing.done(), "the rebalance must land mid-stream"
        await producing
        records = await read_topic(settings.kafka.bootstrap_servers, settings.features_topic,
                                   until=lambda r: want <= window_ids(r), timeout_s=60.0)
    finally:
        await second.stop()
        await first.stop()
    assert first.metrics.rebalances.labels("revoked")._value.get() >= 4  # noqa: SLF001
    missing = sorted(want - window_ids(records))
    assert not missing, f"{len(missing)} windows lost, e.g. {missing[:5]}"
