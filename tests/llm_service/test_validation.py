"""Malformed requests get INVALID_ARGUMENT, unknown things NOT_FOUND - with a message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.convert import array_to_proto
from protos.mochat.v1 import llm_pb2
from tests.llm_service.conftest import (
    GatedPipeline,
    random_joints,
    running_server,
    stored_window,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


def _ask(**fields) -> llm_pb2.AskRequest:
    return llm_pb2.AskRequest(**({"stream_id": "s1", "question": "What happens?"} | fields))


def _upload(joints: np.ndarray, layout: str = "smpl22", fps: float = 20.0
            ) -> llm_pb2.CreateSessionRequest:
    seq = llm_pb2.UploadedSequence(layout=layout, fps=fps)
    array_to_proto(joints, seq.joints)
    return llm_pb2.CreateSessionRequest(sequence=seq)


BAD_ASKS = {
    "empty question": _ask(question=""),
    "blank question": _ask(question="  \n "),
    "question too long": _ask(question="why " * 300),  # 1200 chars > the 1000 limit
    "no target": llm_pb2.AskRequest(question="What happens?"),
    "empty stream id": _ask(stream_id=""),
    "reversed frames": _ask(frames=llm_pb2.FrameRange(first_frame=30, last_frame=20)),
    "negative frame": _ask(frames=llm_pb2.FrameRange(first_frame=-5, last_frame=20)),
    "reversed times": _ask(times=llm_pb2.TimeRange(start_time_us=9, end_time_us=3)),
    "unknown priority": _ask(priority=7),
    "too many tokens": _ask(max_new_tokens=100_000),
    "range over max frames": _ask(frames=llm_pb2.FrameRange(first_frame=0, last_frame=9999)),
}


def _nan_joints() -> np.ndarray:
    joints = random_joints(8)
    joints[3, 4, 1] = np.nan
    return joints


def _bad_bytes() -> llm_pb2.CreateSessionRequest:
    request = _upload(random_joints(8))
    request.sequence.joints.data = request.sequence.joints.data[:-4]  # shape says 4 B more
    return request


BAD_SESSIONS = {
    "no source": lambda: llm_pb2.CreateSessionRequest(),
    "unknown layout": lambda: _upload(random_joints(8), layout="octopus"),
    "layout given as a file": lambda: _upload(random_joints(8), layout="/etc/rig.yaml"),
    "wrong joint count": lambda: _upload(random_joints(8)[:, :20]),
    "NaN joints": lambda: _upload(_nan_joints()),
    "zero fps": lambda: _upload(random_joints(8), fps=0.0),
    "NaN fps": lambda: _upload(random_joints(8), fps=float("nan")),
    "absurd fps": lambda: _upload(random_joints(8), fps=5000.0),
    "bytes do not match the shape": _bad_bytes,
    "too many frames": lambda: _upload(random_joints(600)),  # the tiny model takes 256
}


async def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details()


async def test_malformed_requests_get_invalid_argument(gated: GatedPipeline,
                                                       tiny_checkpoint: Path):
    async with running_server(gated, tiny_checkpoint) as (server, stub):
        dim = server.pipeline.model.encoder.feature_dim
        server.runtime.store.add(stored_window("s1", 0, 32, dim))
        for name, request in BAD_ASKS.items():
            code, details = await _code(stub.Ask(request))
            assert code is INVALID, (name, code, details)
            assert details, name
            code, _ = await _code(_first_chunk(stub.AskStream(request)))
            assert code is INVALID, ("stream", name, code)
        for name, make in BAD_SESSIONS.items():
            code, details = await _code(stub.CreateSession(make()))
            assert code is INVALID, (name, code, details)
            assert name != "not the model's layout" or "not the model's layout" in details
        code, _ = await _code(stub.EndSession(llm_pb2.EndSessionRequest()))
        assert code is INVALID
    assert gated.calls == []  # nothing malformed reached the model
    assert server.metrics.value("mochat_llm_requests_total", method="Ask",
                                code="INVALID_ARGUMENT") == len(BAD_ASKS)


async def _first_chunk(call) -> None:
    async for _ in call:
        return


async def test_unknown_sessions_streams_and_ranges_get_not_found(gated: GatedPipeline,
                                                                 tiny_checkpoint: Path):
    async with running_server(gated, tiny_checkpoint, session_idle_timeout_s=0.3) as (
            server, stub):
        dim = server.pipeline.model.encoder.feature_dim
        server.runtime.store.add(stored_window("s1", 100, 32, dim))  # frames 100..131
        cases = {
            "unknown session": stub.Ask(llm_pb2.AskRequest(session_id="nope", question="Hi?")),
            "end unknown session": stub.EndSession(llm_pb2.EndSessionRequest(session_id="no")),
            "unknown stream": stub.Ask(_ask(stream_id="ghost")),
            "session on unknown stream": stub.CreateSession(
                llm_pb2.CreateSessionRequest(stream_id="ghost")),
            "frames not stored": stub.Ask(_ask(frames=llm_pb2.FrameRange(first_frame=120,
                                                                         last_frame=140))),
            "times not stored": stub.Ask(_ask(times=llm_pb2.TimeRange(start_time_us=1,
                                                                      end_time_us=2))),
        }
        for name, call in cases.items():
            code, details = await _code(call)
            assert code is NOT_FOUND, (name, code, details)
        assert "frame 132" in (await _code(stub.Ask(_ask(frames=llm_pb2.FrameRange(
            first_frame=120, last_frame=140)))))[1]
        session = await stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id="s1"))
        ended = await stub.EndSession(llm_pb2.EndSessionRequest(session_id=session.session_id))
        assert ended.turns == 0
        code, _ = await _code(stub.Ask(llm_pb2.AskRequest(session_id=session.session_id,
                                                          question="Still there?")))
        assert code is NOT_FOUND  # ended
        idle = await stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id="s1"))
        await asyncio.sleep(0.4)  # past the 0.3 s idle timeout
        code, details = await _code(stub.Ask(llm_pb2.AskRequest(session_id=idle.session_id,
                                                                question="Hello?")))
        assert code is NOT_FOUND and "expired" in details



async def test_undecodable_bytes_are_invalid_argument(gated: GatedPipeline,
                                                      tiny_checkpoint: Path) -> None:
    # raw bytes through a generic call: gRPC's deserializer used to end these UNKNOWN
    async with running_server(gated, tiny_checkpoint) as (server, _), \
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for method in ("Ask", "CreateSession", "EndSession"):
            call = channel.unary_unary(f"/mochat.v1.LlmService/{method}")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(b"\xff\xff\xff\xff not a protobuf")
            assert info.value.code() == INVALID, method
        stream = channel.unary_stream("/mochat.v1.LlmService/AskStream")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in stream(b"\x12\xff\xff"):
                pass
        assert info.value.code() == INVALID
        assert server.metrics.value("mochat_llm_requests_total", method="Ask",
                                    code="INVALID_ARGUMENT") == 1
