"""Every bad request gets INVALID_ARGUMENT with a message; overload gets RESOURCE_EXHAUSTED."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import pytest_asyncio

from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc, frames_pb2
from tests.encoder_service.conftest import (
    GatedBackend,
    encode_request,
    make_window,
    random_joints,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
LIMIT_BYTES = 64 * 1024  # one 64-frame SMPL-22 window is 64 * 22 * 3 * 4 = 16,896 bytes


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stub(tiny_model: Path) -> AsyncIterator[encoder_pb2_grpc.EncoderServiceStub]:
    async with running_server(tiny_model, max_frames=100, max_windows_per_request=4,
                              max_request_bytes=LIMIT_BYTES) as (_, channel):
        yield encoder_pb2_grpc.EncoderServiceStub(channel)


def _with(mutate: Callable[[frames_pb2.MotionWindow], None], **kw: object
          ) -> encoder_pb2.EncodeRequest:
    window = make_window(**kw)  # type: ignore[arg-type]
    mutate(window)
    return encode_request(window)


def _nan_at(frame: int, joint: int, value: float) -> np.ndarray:
    joints = random_joints(16)
    joints[frame, joint, 1] = value
    return joints


BAD_REQUESTS = {
    "wrong joint count": (encode_request(make_window(joints=random_joints(16, 25))),
                          "layout 'smpl22' has 22 joints, got 25"),
    "unknown layout": (encode_request(make_window(frames=16, layout="zebra")),
                       "unknown layout 'zebra'"),
    "layout given as a file": (encode_request(make_window(frames=16, layout="/etc/x.yaml")),
                               "layout '/etc/x.yaml' is a file name"),
    "fps NaN": (_with(lambda w: setattr(w, "fps", float("nan")), frames=16),
                "fps must be a finite rate > 0, got nan"),
    "fps 0 (unset)": (_with(lambda w: setattr(w, "fps", 0.0), frames=16),
                      "fps must be a finite rate > 0, got 0.0"),
    "fps inf": (_with(lambda w: setattr(w, "fps", float("inf")), frames=16),
                "fps must be a finite rate > 0, got inf"),
    "fps negative": (_with(lambda w: setattr(w, "fps", -20.0), frames=16),
                     "fps must be a finite rate > 0, got -20.0"),
    "fps absurd": (_with(lambda w: setattr(w, "fps", 5000.0), frames=16),
                   "fps 5000 is over the limit of 1000"),
    "NaN": (encode_request(make_window(joints=_nan_at(3, 5, np.nan))),
            "non-finite value (NaN/inf) at frame 3, joint 5"),
    "inf": (encode_request(make_window(joints=_nan_at(0, 0, np.inf))),
            "non-finite value (NaN/inf) at frame 0, joint 0"),
    # the limit (100, at the model's 20 fps) applies after resampling, stated in the
    # window's own terms: 203 frames at 40 fps are 5.05 s = 102 frames at 20 fps; at most
    # 200 frames at 40 fps fit (instants 0 .. 4.975 s, 100 frames at 20 fps: 0 .. 4.95 s)
    "too many frames": (encode_request(make_window(frames=101)),
                        "101 frames at 20 fps (5 s) are 101 frames at the model's 20 fps, "
                        "over its limit of 100: send at most 100 frames at 20 fps (4.95 s)"),
    "too many frames at 40 fps": (
        _with(lambda w: setattr(w, "fps", 40.0), frames=203),
        "203 frames at 40 fps (5.05 s) are 102 frames at the model's 20 fps, over its limit "
        "of 100: send at most 200 frames at 40 fps (4.97 s)"),
    "payload too large": (encode_request(*[make_window(first_frame=64 * i) for i in range(4)]),
                          f"over the limit of {LIMIT_BYTES}"),
    "too many windows": (encode_request(*[make_window(first_frame=i, frames=1)
                                          for i in range(5)]),
                         "5 windows in one request, over the limit of 4"),
    "no windows": (encoder_pb2.EncodeRequest(), "request holds no windows"),
    "bytes do not match shape": (_with(lambda w: setattr(w.joints, "data", w.joints.data[:-4]),
                                       frames=16),
                                 "shape (16, 22, 3) needs 4224 bytes of float32, got 4220"),
    "frame range does not match T": (_with(lambda w: setattr(w, "last_frame", 20), frames=16),
                                      "frames 0..20 are 21, joints hold 16"),
    "degenerate skeleton": (encode_request(make_window(joints=np.zeros((8, 22, 3)))),
                            "all bones have zero length"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_bad_request_is_invalid_argument(stub: encoder_pb2_grpc.EncoderServiceStub,
                                               case: str) -> None:
    request, message = BAD_REQUESTS[case]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Encode(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()
    assert "Traceback" not in info.value.details()


async def test_error_names_the_offending_window(stub: encoder_pb2_grpc.EncoderServiceStub
                                                ) -> None:
    good, bad = make_window("cam", 0, 16), make_window("cam", 16, 16, layout="zebra")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Encode(encode_request(good, bad))
    assert info.value.details().startswith("window 1 (cam:16): unknown layout 'zebra'")


async def test_far_over_the_limit_is_refused_by_grpc_itself(
        stub: encoder_pb2_grpc.EncoderServiceStub) -> None:
    # Over 2 x max_request_bytes + 64 KiB, gRPC refuses the message before the servicer.
    huge = encode_request(make_window(joints=random_joints(4000)))  # ~1 MB
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Encode(huge)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_full_queue_is_resource_exhausted(tiny_model: Path) -> None:
    async with running_server(tiny_model, max_queue_windows=3, max_batch=1,
                              max_delay_ms=0) as (server, channel):
        runtime = server.servicer.runtime
        assert runtime is not None
        gated = runtime.batcher.backend = GatedBackend(runtime.batcher.backend)
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        first = asyncio.ensure_future(stub.Encode(encode_request(make_window(frames=8))))
        await asyncio.to_thread(gated.entered.wait, 10)  # the worker holds window 1
        queued = [asyncio.ensure_future(stub.Encode(encode_request(make_window(frames=8))))
                  for _ in range(3)]  # fills the queue: 3 of 3 windows
        await wait_until(lambda: runtime.batcher.queued_windows == 3)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Encode(encode_request(make_window(frames=8)))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue full (3 windows queued, limit 3)" in info.value.details()
        gated.gate.set()
        replies = await asyncio.gather(first, *queued)  # the queued ones are still served
    assert [len(r.features) for r in replies] == [1, 1, 1, 1]
    assert gated.batch_sizes == [1, 1, 1, 1]  # max_batch=1


async def test_undecodable_bytes_are_invalid_argument(tiny_model: Path) -> None:
    # raw bytes through a generic call: gRPC's deserializer used to end these UNKNOWN
    async with running_server(tiny_model) as (server, channel):
        for method in ("Encode", "GetModelInfo"):
            call = channel.unary_unary(f"/mochat.v1.EncoderService/{method}")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(b"\xff\xff\xff\xff not a protobuf")
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "not a valid protobuf message" in info.value.details()
        stream = channel.stream_stream("/mochat.v1.EncoderService/EncodeStream")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in stream(iter([b"\xff\xff"])):
                pass
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert server.metrics.requests.labels("Encode", "INVALID_ARGUMENT")._value.get() == 1


async def test_crafted_shapes_are_invalid_argument_not_internal(
        stub: encoder_pb2_grpc.EncoderServiceStub) -> None:
    # 3 * a * b = 2**64 + 26: in int64 the byte count wrapped to 4 * 26 = 104 bytes, which
    # these joints hold; the reshape then failed with a bare ValueError (INTERNAL)
    a, b = 2_154_230_017, 2_854_344_542  # both under 2**32 (shape dims are uint32)
    assert 3 * a * b == 2**64 + 26
    window = make_window(frames=16)
    window.joints.shape[:] = [a, b, 3]
    window.joints.data = b"\0" * 104
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Encode(encode_request(window))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "elements" in info.value.details()


async def test_huge_client_strings_are_clipped_in_replies_and_logs(
        stub: encoder_pb2_grpc.EncoderServiceStub) -> None:
    from structlog.testing import capture_logs

    window = make_window("s" * 20_000, frames=16, layout="zebra")
    with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Encode(encode_request(window, request_id="r" * 20_000))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(info.value.details()) < 1100
    assert "over the limit of 1024" in info.value.details()
    line = next(e for e in logs if e["event"] == "rejected")
    assert all(len(str(v)) < 1100 for v in line.values())
