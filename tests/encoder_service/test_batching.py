"""Dynamic batching: concurrent requests share model calls, visible in /metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from encoder_service.server import EncoderServer
from protos.convert import features_from_proto
from protos.mochat.v1 import encoder_pb2_grpc
from tests.encoder_service.conftest import (
    GatedBackend,
    encode_request,
    make_window,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _scrape(port: int) -> dict[str, float]:
    """Every sample of /metrics as {'name{label=value,...}': value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def _gate(server: EncoderServer) -> GatedBackend:
    runtime = server.servicer.runtime
    assert runtime is not None
    gated = GatedBackend(runtime.batcher.backend)
    runtime.batcher.backend = gated
    return gated


async def _one_then_seven(server: EncoderServer, stub: encoder_pb2_grpc.EncoderServiceStub,
                          gated: GatedBackend) -> None:
    """Request 1 occupies the model; requests 2..8 arrive meanwhile; then the gate opens."""
    first = asyncio.ensure_future(stub.Encode(encode_request(make_window("s0", 0, 64))))
    await asyncio.to_thread(gated.entered.wait, 10)
    rest = [asyncio.ensure_future(stub.Encode(encode_request(make_window(f"s{i}", 0, 64))))
            for i in range(1, 8)]
    runtime = server.servicer.runtime
    assert runtime is not None
    await wait_until(lambda: runtime.batcher.queued_windows == 7)
    assert _scrape(server.metrics_port or 0)["mochat_encoder_queue_windows"] == 7
    gated.gate.set()
    replies = await asyncio.gather(first, *rest)
    assert [r.features[0].stream_id for r in replies] == [f"s{i}" for i in range(8)]


async def test_concurrent_requests_are_batched(tiny_model: Path) -> None:
    async with running_server(tiny_model, max_batch=16, max_delay_ms=0,
                              metrics_port=0) as (server, channel):
        gated = _gate(server)
        await _one_then_seven(server, encoder_pb2_grpc.EncoderServiceStub(channel), gated)
        metrics = _scrape(server.metrics_port or 0)
    assert gated.batch_sizes == [1, 7]  # the seven waiting requests ran as one batch
    assert metrics["mochat_encoder_batch_windows_count"] == 2
    assert metrics["mochat_encoder_batch_windows_sum"] == 8
    assert metrics["mochat_encoder_batch_requests_bucket{le=4.0}"] == 1  # only the first
    assert metrics["mochat_encoder_batch_requests_bucket{le=8.0}"] == 2
    assert metrics["mochat_encoder_requests_total{code=OK,method=Encode}"] == 8
    assert metrics["mochat_encoder_windows_total"] == 8
    assert metrics["mochat_encoder_request_seconds_count{method=Encode}"] == 8
    assert metrics["mochat_encoder_queue_windows"] == 0


async def test_without_batching_every_request_runs_alone(tiny_model: Path) -> None:
    async with running_server(tiny_model, batching=False, metrics_port=0) as (server, channel):
        gated = _gate(server)
        await _one_then_seven(server, encoder_pb2_grpc.EncoderServiceStub(channel), gated)
        metrics = _scrape(server.metrics_port or 0)
    assert gated.batch_sizes == [1] * 8
    assert metrics["mochat_encoder_batch_windows_count"] == 8


async def test_requests_within_the_delay_share_a_batch(tiny_model: Path) -> None:
    # 8 requests sent at once reach the server well within 300 ms of the first.
    async with running_server(tiny_model, max_batch=16, max_delay_ms=300) as (server, channel):
        gated = _gate(server)
        gated.gate.set()
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        await asyncio.gather(*(stub.Encode(encode_request(make_window(f"s{i}", 0, 16 + i)))
                               for i in range(8)))
    assert sum(gated.batch_sizes) == 8 and len(gated.batch_sizes) < 8


async def test_large_request_is_split_into_max_batch_chunks(tiny_model: Path) -> None:
    windows = [make_window("s", 10 * i, 10 - i, seed=i) for i in range(5)]  # T = 10, 9, .. 6
    async with running_server(tiny_model, max_batch=2, max_delay_ms=0) as (server, channel):
        gated = _gate(server)
        gated.gate.set()
        reply = await encoder_pb2_grpc.EncoderServiceStub(channel).Encode(
            encode_request(*windows))
    assert gated.batch_sizes == [2, 2, 1]
    assert [features_from_proto(f).shape[0] for f in reply.features] == [10, 9, 8, 7, 6]
