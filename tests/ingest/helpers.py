"""Helpers of the ingest tests: processes, topic readers, motion files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from ingest.service import IngestService
from ingest.settings import IngestSettings
from ingest.windowing import StreamFrame, Windower

REPO = Path(__file__).resolve().parents[2]

# Short group timeouts: a Tansu group join waits for the rebalance timeout, and a Tansu
# fetch waits for fetch_max_wait_ms even when records are there.
FAST_GROUP = dict(session_timeout_ms=3000, heartbeat_interval_ms=300, rebalance_timeout_ms=2000,
                  commit_interval_ms=50, fetch_max_wait_ms=20)
# Windows of 32 frames every 16 (min 16, grace 2) for the 120 fps streams of the crash and
# rebalance tests: many short windows per stream.
SHORT_AT_120 = dict(window_s=32 / 120, step_s=16 / 120, min_s=16 / 120, grace_ms=2000 / 120)


@contextlib.asynccontextmanager
async def running_ingest(settings: IngestSettings) -> AsyncIterator[IngestService]:
    """An ingest service started with `settings`, stopped on exit."""
    service = IngestService(settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def start_encoder(model: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "encoder_service", "--model", str(model), "--port", str(port),
             "--insecure"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_serving(address: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"encoder service exited with {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"encoder service on {address} not SERVING after {timeout_s} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def read_topic(bootstrap: str, topic: str, *, until: Callable[[list[ConsumerRecord]], bool],
                     timeout_s: float = 30.0) -> list[ConsumerRecord]:
    """Every record of `topic` from the beginning (no group), until `until(records)` holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        while not until(records) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def committed_offsets(bootstrap: str, topic: str, group_id: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        return {p: await consumer.committed(TopicPartition(topic, p))
                for p in consumer.partitions_for_topic(topic)}
    finally:
        await consumer.stop()


def motion_file(path: Path, frames: int, *, seed: int = 0) -> Path:
    """A smooth (T, 22, 3) motion: a random pose drifting 1 cm per frame along x."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.3, size=(1, 22, 3)).astype(np.float32)
    drift = np.zeros((frames, 1, 3), np.float32)
    drift[:, 0, 0] = 0.01 * np.arange(frames)
    np.save(path, (base + drift).astype(np.float32))
    return path


async def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def subprocess_env(settings: IngestSettings) -> dict[str, str]:
    """MOCHAT_INGEST_* variables reproducing `settings` for `python -m ingest`."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude={"kafka", "encoder_channel"}).items():
        if value is not None:
            env[f"MOCHAT_INGEST_{name.upper()}"] = str(value)
    env["MOCHAT_INGEST_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
    env["MOCHAT_INGEST_ENCODER_CHANNEL__INSECURE"] = str(settings.encoder_channel.insecure)
    return env


def expected_window_ids(streams, settings) -> set[str]:  # noqa: ANN001
    """What an uninterrupted run windows: the pure windower over the same frames."""
    ids: set[str] = set()
    windower = Windower(settings.windowing())
    for s in streams:
        for t in range(s.num_frames):
            ids |= {w.window_id for w in windower.add(
                StreamFrame(s.stream_id, s.start_frame + t, s.joints[t], fps=s.fps),
                0.0).windows}
        ids |= {w.window_id for w in windower.flush_stream(s.stream_id)}
    return ids
