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


def walking(frames: int) -> np.ndarray:
    """(T, 22, 3) of a synthetic motion at 20 fps (a real body, y up, metres)."""
    from mochat.synth.generate import synthesize_motion

    return synthesize_motion("m", np.random.default_rng(3)).joints[:frames]


def as_ntu25(smpl: np.ndarray) -> np.ndarray:
    """SMPL-22 joints written as an NTU-25 (Kinect v2) skeleton: every NTU joint that a
    model joint maps to takes that joint; hands, hand tips and thumbs sit on the wrists."""
    from mochat.skeleton import NTU25, SMPL22

    out = np.zeros((smpl.shape[0], 25, 3), np.float32)
    for model_joint, (ntu_joint,) in NTU25.correspondence.items():
        out[:, NTU25.index(ntu_joint)] = smpl[:, SMPL22.index(model_joint)]
    for side in ("left", "right"):
        for extra in ("hand", "hand_tip", "thumb"):
            out[:, NTU25.index(f"{side}_{extra}")] = smpl[:, SMPL22.index(f"{side}_wrist")]
    return out


async def test_windows_in_any_layout_and_rate_come_back_at_the_model_rate(
        tiny_model: Path) -> None:
    from mochat.skeleton import NTU25, resample, to_model

    motion = walking(33)  # 1.6 s at 20 fps
    at_120 = resample(motion, 20.0, 120.0)  # (33 - 1) * 6 + 1 = 193 frames
    ntu = as_ntu25(motion)
    windows = [make_window("a", 0, joints=motion),  # the model's own layout and rate
               make_window("b", 600, joints=at_120, fps=120.0),
               make_window("c", 40, joints=ntu, layout="kinect-v2")]  # an alias of ntu25
    async with running_server(tiny_model) as (_, channel):
        reply = await encoder_pb2_grpc.EncoderServiceStub(channel).Encode(
            encode_request(*windows))
    plain, fast, kinect = reply.features
    # the window's coordinates stay the stream's own: frames 600..792 at 120 fps, ...
    assert (fast.first_frame, fast.last_frame, fast.fps) == (600, 792, 120.0)
    assert fast.last_capture_time_us == 1_000_000 + round(192 * 1e6 / 120)
    assert (kinect.layout, kinect.fps) == ("ntu25", 20.0)
    # ... and the rows are at the model's 20 fps: 193 frames at 120 fps are 33 rows
    assert [f.feature_fps for f in reply.features] == [20.0, 20.0, 20.0]
    got = {f.stream_id: features_from_proto(f) for f in reply.features}
    assert {k: v.shape for k, v in got.items()} == {"a": (33, 4), "b": (33, 4), "c": (33, 4)}
    # The tiny model is the mean joint @ W of what `to_model` makes of each window: the
    # 120 fps one resampled to 20 fps, the NTU one retargeted to SMPL-22.
    for key, joints, layout, fps in (("b", at_120, SMPL22, 120.0), ("c", ntu, NTU25, 20.0)):
        adapted = to_model(joints, layout, fps).joints  # (33, 22, 3) at 20 fps
        expected = normalize(adapted, SMPL22).mean(axis=1) @ TINY_WEIGHTS
        np.testing.assert_allclose(got[key], expected, atol=1e-5)
    # The 120 fps window reads as the 20 fps one: the same instants; the anti-alias filter
    # (-3 dB at 8 Hz) softens the motion's fastest moments by under 1 % of a unit bone.
    np.testing.assert_allclose(got["b"], got["a"], atol=1e-2)
    assert plain.feature_fps == 20.0 and plain.fps == 20.0


async def test_health_reports_serving_and_reflection_lists_services(tiny_model: Path) -> None:
    async with running_server(tiny_model, reflection=True) as (_, channel):
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
    assert info.fps == 20.0 and {"smpl22", "ntu25", "azure32"} <= set(info.layouts)
    assert info.backend == "onnxruntime" and list(info.providers) == ["CPUExecutionProvider"]


async def test_stream_answers_every_request_and_survives_a_bad_one(tiny_model: Path) -> None:
    requests = [encode_request(make_window("s", 64 * i, 64, seed=i), request_id=f"q{i}")
                for i in range(5)]
    requests.insert(2, encode_request(make_window("s", 999, 8, layout="zebra"),
                                      request_id="bad"))
    async with running_server(tiny_model) as (_, channel):
        call = encoder_pb2_grpc.EncoderServiceStub(channel).EncodeStream(iter(requests))
        replies = {r.request_id: r async for r in call}
        assert await call.code() == grpc.StatusCode.OK
    assert set(replies) == {"q0", "q1", "q2", "q3", "q4", "bad"}
    assert replies["bad"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "unknown layout 'zebra'" in replies["bad"].error.message
    for i in range(5):
        (features,) = replies[f"q{i}"].response.features
        assert features.window_id == f"s:{64 * i}"
        assert features_from_proto(features).shape == (64, 4)


async def test_a_taken_port_is_a_startup_error(tiny_model: Path) -> None:
    async with running_server(tiny_model) as (server, _):
        second = EncoderServer(EncoderSettings(model=tiny_model, port=server.port, insecure=True))
        with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{server.port}"):
            await second.start()


RIG15 = """\
# a user's 15-joint rig, named like the model's joints (so it maps by name), in centimetres
name: rig15_test
convention: {up_axis: y, units: cm}
joints:
  - [pelvis, null, trunk]
  - [left_hip, pelvis, leg]
  - [right_hip, pelvis, leg]
  - [left_knee, left_hip, leg]
  - [right_knee, right_hip, leg]
  - [left_ankle, left_knee, leg]
  - [right_ankle, right_knee, leg]
  - [neck, pelvis, trunk]
  - [head, neck, trunk]
  - [left_shoulder, neck, arm]
  - [right_shoulder, neck, arm]
  - [left_elbow, left_shoulder, arm]
  - [right_elbow, right_shoulder, arm]
  - [left_wrist, left_elbow, arm]
  - [right_wrist, right_elbow, arm]
"""


async def test_a_users_layout_file_is_served(tiny_model: Path, tmp_path: Path) -> None:
    from mochat.skeleton import SMPL22

    rig = tmp_path / "rig15.yaml"
    rig.write_text(RIG15)
    names = [line.split("[")[1].split(",")[0] for line in RIG15.splitlines() if "- [" in line]
    joints = 100.0 * walking(20)[:, [SMPL22.index(n) for n in names]]  # (20, 15, 3) in cm
    async with running_server(tiny_model, layout_files=[rig]) as (_, channel):
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        info = await stub.GetModelInfo(encoder_pb2.GetModelInfoRequest())
        reply = await stub.Encode(encode_request(make_window("u", 0, joints=joints,
                                                             layout="rig15_test")))
    assert "rig15_test" in info.layouts
    assert features_from_proto(reply.features[0]).shape == (20, 4)
    assert reply.features[0].layout == "rig15_test"
    with pytest.raises(ConfigError, match="layout file not found"):
        await EncoderServer(EncoderSettings(model=tiny_model, port=0, insecure=True,
                                            layout_files=[tmp_path / "gone.yaml"])).start()
