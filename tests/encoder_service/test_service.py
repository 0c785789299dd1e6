"""A real encoder server on loopback: parity, health, reflection, model info, streaming."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from encoder_service.server import EncoderServer
from encoder_service.settings import EncoderSettings
from mochat.errors import ConfigError
from mochat.skeleton import SMPL22, normalize
from protos.convert import features_from_proto
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc
from tests.encoder_service.conftest import (
    TINY_WEIGHTS,
    encode_request,
    make_window,
    random_joints,
    running_server,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def jgse_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real exported encoder: JGSE, encoder_tiny() config, through `export_onnx`."""
    torch = pytest.importorskip("torch")
    from mochat.export.onnx import export_onnx
    from mochat.models import build_encoder, encoder_tiny

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("jgse") / "encoder.onnx"
    return export_onnx(build_encoder("jgse", encoder_tiny(), SMPL22), path)


async def test_encode_matches_in_process_onnxruntime(jgse_model: Path) -> None:
    import onnxruntime as ort

    # Three windows of different lengths: the server pads them into one (3, 64) batch.
    shapes = [("a", 100, 64), ("b", 0, 40), ("a", 132, 17)]  # stream, first frame, T
    windows = [make_window(s, first, frames, seed=i) for i, (s, first, frames) in
               enumerate(shapes)]
    session = ort.InferenceSession(str(jgse_model), providers=["CPUExecutionProvider"])
    async with running_server(jgse_model) as (_, channel):
        reply = await encoder_pb2_grpc.EncoderServiceStub(channel).Encode(
            encode_request(*windows, request_id="p1"))
    assert reply.request_id == "p1"
    assert [f.window_id for f in reply.features] == ["a:100", "b:0", "a:132"]
    for i, (window, features) in enumerate(zip(windows, reply.features, strict=True)):
        x = normalize(random_joints(shapes[i][2], seed=i), SMPL22)[None]  # (1, T, J, 3)
        # Run alone, unpadded: the server's padded batch must not change real frames.
        (expected,) = session.run(None, {"joints": x, "mask": np.ones(x.shape[:2], bool)})
        got = features_from_proto(features)
        assert got.shape == (x.shape[1], 32)  # (T, D), D = encoder_tiny().feature_dim
        np.testing.assert_allclose(got, expected[0], atol=1e-4)
        assert features.first_frame == window.first_frame
        assert features.last_frame == window.last_frame
        assert features.last_capture_time_us == window.last_capture_time_us
        assert features.encoder == "encoder.onnx@v1" and features.layout == "smpl22"


async def test_features_are_hand_checkable_on_the_tiny_model(tiny_model: Path) -> None:
    # The tiny model computes features = mean over joints of the (normalised) input @ W.
    joints = random_joints(5, seed=7)
    async with running_server(tiny_model) as (_, channel):
        reply = await encoder_pb2_grpc.EncoderServiceStub(channel).Encode(
            encode_request(make_window("s", 10, joints=joints)))
    got = features_from_proto(reply.features[0])
    expected = normalize(joints, SMPL22).mean(axis=1) @ TINY_WEIGHTS  # (5, 3) @ (3, 4)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got[:, 3], got[:, :3].sum(axis=1), atol=1e-5)  # column x+y+z
    assert (reply.features[0].first_frame, reply.features[0].last_frame) == (10, 14)


async def test_health_reports_serving_and_reflection_lists_services(tiny_model: Path) -> None:
    async with running_server(tiny_model) as (_, channel):
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "mochat.v1.EncoderService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = [r async for r in reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert names == {"mochat.v1.EncoderService", "grpc.health.v1.Health",
                     "grpc.reflection.v1alpha.ServerReflection"}


async def test_model_info_reports_sidecar_and_providers(tiny_model: Path) -> None:
    async with running_server(tiny_model, max_batch=8) as (_, channel):
        info = await encoder_pb2_grpc.EncoderServiceStub(channel).GetModelInfo(
            encoder_pb2.GetModelInfoRequest())
    assert (info.layout, info.num_joints, info.feature_dim) == ("smpl22", 22, 4)
    assert info.max_frames == 128 and info.max_batch == 8  # sidecar limit, setting
    assert info.backend == "onnxruntime" and list(info.providers) == ["CPUExecutionProvider"]


async def test_stream_answers_every_request_and_survives_a_bad_one(tiny_model: Path) -> None:
    requests = [encode_request(make_window("s", 64 * i, 64, seed=i), request_id=f"q{i}")
                for i in range(5)]
    requests.insert(2, encode_request(make_window("s", 999, 8, layout="ntu25",
                                                  joints=random_joints(8, 25)),
                                      request_id="bad"))
    async with running_server(tiny_model) as (_, channel):
        call = encoder_pb2_grpc.EncoderServiceStub(channel).EncodeStream(iter(requests))
        replies = {r.request_id: r async for r in call}
        assert await call.code() == grpc.StatusCode.OK
    assert set(replies) == {"q0", "q1", "q2", "q3", "q4", "bad"}
    assert replies["bad"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "not the model's layout 'smpl22'" in replies["bad"].error.message
    for i in range(5):
        (features,) = replies[f"q{i}"].response.features
        assert features.window_id == f"s:{64 * i}"
        assert features_from_proto(features).shape == (64, 4)


async def test_a_taken_port_is_a_startup_error(tiny_model: Path) -> None:
    async with running_server(tiny_model) as (server, _):
        second = EncoderServer(EncoderSettings(model=tiny_model, port=server.port))
        with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{server.port}"):
            await second.start()
