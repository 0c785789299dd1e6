"""Features arriving through Kafka (local Tansu broker), in-process and as `mochat serve llm`."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from protos.convert import array_to_proto
from protos.mochat.v1 import frames_pb2, llm_pb2, llm_pb2_grpc
from tests.llm_service.conftest import T0_US, GatedPipeline, random_joints, running_server
from tests.process_helpers import wait_for_event

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.kafka]
REPO = Path(__file__).resolve().parents[2]
WHEN = "When did the jump start?"


def features_message(stream: str, first: int, features: np.ndarray) -> bytes:
    """MotionFeatures of frames first..first+T-1, captured every 50 ms from T0_US."""
    frames = features.shape[0]
    msg = frames_pb2.MotionFeatures(
        stream_id=stream, window_id=f"{stream}:{first}", first_frame=first,
        last_frame=first + frames - 1, fps=20.0, layout="smpl22", encoder="tiny",
        first_capture_time_us=T0_US + first * 50_000,
        last_capture_time_us=T0_US + (first + frames - 1) * 50_000)
    array_to_proto(features, msg.features)  # (T, D)
    return msg.SerializeToString()


async def produce(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def _until(predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_stream_from_kafka_is_answered_in_absolute_frames(
        gated: GatedPipeline, tiny_checkpoint: Path, kafka_bootstrap: str, kafka_topics):
    topic = kafka_topics(features=2)["features"]
    # real encoder features of a 64-frame window starting at frame 200 of stream "k1"
    features = gated.features(random_joints(64), gated.model.encoder.layout).numpy()
    window = features_message("k1", 200, features)
    await produce(kafka_bootstrap, topic, [("k1", window), ("k1", window),  # a replay
                                           ("k1", b"\x08garbage")])
    async with running_server(gated, tiny_checkpoint, consume=True, features_topic=topic,
                              kafka={"bootstrap_servers": kafka_bootstrap}) as (server, stub):
        value = server.metrics.value
        await _until(lambda: value("mochat_llm_feature_records_total", outcome="duplicate")
                     + value("mochat_llm_feature_records_total", outcome="invalid") == 2, 30)
        answer = await stub.Ask(llm_pb2.AskRequest(stream_id="k1", question=WHEN))
        stored = server.runtime.store.latest("k1")
    assert value("mochat_llm_feature_records_total", outcome="added") == 1
    np.testing.assert_array_equal(stored.features, features)  # bytes survived the trip
    assert list(answer.window.window_ids) == ["k1:200"]
    assert (answer.window.first_frame, answer.window.last_frame) == (200, 263)
    span = answer.spans[0]
    assert 200 <= span.first_frame <= span.last_frame <= 263  # absolute, inside the window
    assert span.last_capture_time_us == T0_US + span.last_frame * 50_000




async def _wait_for_stream(address: str, stream: str, timeout_s: float = 30) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id=stream))
                return
            except grpc.aio.AioRpcError as err:
                if err.code() is not grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


def _start_server(checkpoint: Path, bootstrap: str, topic: str, stderr: Path
                  ) -> subprocess.Popen[str]:
    with open(stderr, "w") as err:  # progress bars of transformers go there
        return subprocess.Popen(
            [sys.executable, "-m", "mochat", "serve", "llm", "--model", str(checkpoint),
             "--port", "0", "--bootstrap-servers", bootstrap, "--features-topic", topic,
             "--max-new-tokens", "6", "--insecure"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)


async def test_the_command_line_serves_and_asks(tiny_checkpoint: Path, kafka_bootstrap: str,
                                                kafka_topics, tmp_path: Path):
    topic = kafka_topics(features=1)["features"]
    rng = np.random.default_rng(0)
    await produce(kafka_bootstrap, topic, [("cli", features_message(
        "cli", 40, rng.normal(size=(32, 32)).astype(np.float32)))])
    proc = await asyncio.to_thread(_start_server, tiny_checkpoint, kafka_bootstrap, topic,
                                   tmp_path / "stderr.log")
    try:
        serving = await asyncio.to_thread(wait_for_event, proc, "serving", 90)
        address = f"127.0.0.1:{serving['port']}"
        await _wait_for_stream(address, "cli")
        ask = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "mochat", "ask", "--server", address,
                             "--stream", "cli", WHEN, "--json", "--insecure"],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        assert ask.returncode == 0, ask.stderr
        answer = json.loads(ask.stdout)
        missing = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "mochat", "ask", "--server", address,
                             "--stream", "ghost", "Anything?", "--insecure"],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        proc.send_signal(signal.SIGTERM)
        logs: list[dict] = []
        await asyncio.to_thread(wait_for_event, proc, "stopped", 60, logs)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert answer["window"]["window_ids"] == ["cli:40"]
    assert 40 <= answer["spans"][0]["first_frame"] <= answer["spans"][0]["last_frame"] <= 71
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    # JSON logs carry the ids: the answer and the refusal name their stream
    answered = [r for r in logs if r["event"] == "answered"]
    refused = [r for r in logs if r["event"] == "refused"]
    assert answered[-1]["stream_id"] == "cli" and answered[-1]["level"] == "info"
    assert refused[-1]["stream_id"] == "ghost" and refused[-1]["code"] == "NOT_FOUND"
