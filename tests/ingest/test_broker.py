"""The local broker: starts on a free port, creates topics, round-trips records, stops by PID."""

from __future__ import annotations

import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from ingest.broker import BrokerError, LocalBroker, find_tansu

pytestmark = pytest.mark.kafka


def test_find_tansu_is_executable() -> None:
    assert os.access(find_tansu(), os.X_OK)


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCHAT_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerError, match="missing or not executable"):
        find_tansu()


async def test_round_trip_on_session_broker(kafka_bootstrap: str, kafka_topics) -> None:
    topic = kafka_topics(frames=2)["frames"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i % 3}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[bytes] = []
    try:
        while len(got) < 10:
            for records in (await consumer.getmany(timeout_ms=2000)).values():
                got += [r.value for r in records]
    finally:
        await consumer.stop()
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(10))


async def test_own_broker_creates_topics_and_stops_by_pid() -> None:
    broker = LocalBroker(topics={"a.topic": 3}).start()
    pid = broker.pid
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            [meta] = await admin.describe_topics(["a.topic"])
        finally:
            await admin.close()
        assert len(meta["partitions"]) == 3
    finally:
        broker.stop()
    with pytest.raises(ProcessLookupError):  # the process is gone (reaped)
        os.kill(pid, 0)
