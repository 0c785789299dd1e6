"""Sessions on uploaded sequences: encoded by the real encoder service, or in-process."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from encoder_service.server import EncoderServer
from encoder_service.settings import EncoderSettings
from llm_service.uploads import UploadEncoder
from mochat.errors import ConfigError
from mochat.security import ChannelSecurity
from mochat.skeleton import SMPL22
from protos.convert import array_to_proto
from protos.mochat.v1 import llm_pb2
from tests.llm_service.conftest import T0_US, GatedPipeline, random_joints, running_server

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _upload(joints: np.ndarray, first_frame: int = 0, *, layout: str = "smpl22",
            fps: float = 20.0) -> llm_pb2.CreateSessionRequest:
    seq = llm_pb2.UploadedSequence(name="rehab-1", layout=layout, fps=fps,
                                   first_frame=first_frame, first_capture_time_us=T0_US)
    array_to_proto(joints, seq.joints)
    return llm_pb2.CreateSessionRequest(sequence=seq)


async def test_an_uploaded_sequence_is_answered_in_its_own_frames(gated: GatedPipeline,
                                                                  tiny_checkpoint: Path):
    async with running_server(gated, tiny_checkpoint) as (server, stub):  # no --encoder
        session = await stub.CreateSession(_upload(random_joints(40), first_frame=500))
        whole = await stub.Ask(llm_pb2.AskRequest(session_id=session.session_id,
                                                  question="When does the person sit down?"))
        part = await stub.Ask(llm_pb2.AskRequest(
            session_id=session.session_id, question="When does the person stand up?",
            frames=llm_pb2.FrameRange(first_frame=510, last_frame=520)))
    assert session.uploaded and session.stream_id == "rehab-1"
    assert (whole.window.first_frame, whole.window.last_frame) == (500, 539)
    # frame 539 is 39 frames after the first capture: 39 * 50 ms later
    assert whole.window.last_capture_time_us == T0_US + 39 * 50_000
    assert 500 <= whole.spans[0].first_frame <= whole.spans[0].last_frame <= 539
    assert (part.window.first_frame, part.window.last_frame) == (510, 520)
    assert 510 <= part.spans[0].first_frame <= part.spans[0].last_frame <= 520
    assert [c.num_frames for c in gated.calls] == [40, 11]
    assert [q for q, _ in gated.calls[1].history] == ["When does the person sit down?"]


async def test_uploads_go_through_the_encoder_service(gated: GatedPipeline,
                                                      tiny_checkpoint: Path,
                                                      encoder_onnx: Path):
    encoder = EncoderServer(EncoderSettings(model=encoder_onnx, port=0, log_level="warning",
                                            insecure=True))
    port = await encoder.start()
    try:
        async with running_server(gated, tiny_checkpoint, encoder=f"127.0.0.1:{port}",
                                  encoder_channel={"insecure": True}) as (server, stub):
            joints = random_joints(24, seed=3)
            session = await stub.CreateSession(_upload(joints))
            uploaded = server.runtime.sessions.get(session.session_id).uploaded
            answer = await stub.Ask(llm_pb2.AskRequest(session_id=session.session_id,
                                                       question="What does the person do?"))
        # an encoder whose features the checkpoint cannot read is refused at startup
        other = UploadEncoder(f"127.0.0.1:{port}", None, feature_dim=999, layout=SMPL22,
                              fps=20.0, max_frames=64,
                              security=ChannelSecurity(insecure=True))
        with pytest.raises(ConfigError, match="999-d"):
            await other.check()
        await other.close()
    finally:
        await encoder.stop(grace_s=0.5)
    assert encoder.metrics.registry.get_sample_value("mochat_encoder_windows_total") == 1
    # the service's features are the encoder service's, equal to the in-process encoder's
    expected = gated.features(joints, server.pipeline.model.encoder.layout).numpy()
    np.testing.assert_allclose(uploaded.features, expected, atol=1e-4)
    assert answer.window.window_ids == ["rehab-1:0"]


def ntu_walk(frames_20: int) -> np.ndarray:
    """A synthetic motion as an NTU-25 (Kinect v2) skeleton at 120 fps: (T, 25, 3)."""
    from mochat.skeleton import NTU25, resample
    from mochat.synth.generate import synthesize_motion

    smpl = synthesize_motion("m", np.random.default_rng(5)).joints[:frames_20]
    out = np.zeros((smpl.shape[0], 25, 3), np.float32)
    for model_joint, (ntu_joint,) in NTU25.correspondence.items():
        out[:, NTU25.index(ntu_joint)] = smpl[:, SMPL22.index(model_joint)]
    for side in ("left", "right"):  # hands, tips and thumbs on the wrists
        for extra in ("hand", "hand_tip", "thumb"):
            out[:, NTU25.index(f"{side}_{extra}")] = smpl[:, SMPL22.index(f"{side}_wrist")]
    return resample(out, 20.0, 120.0)


@pytest.mark.parametrize("through_service", [False, True])
async def test_an_ntu_upload_at_120_fps_is_answered_in_its_own_frames(
        gated: GatedPipeline, tiny_checkpoint: Path, encoder_onnx: Path,
        through_service: bool):
    joints = ntu_walk(31)  # (31 - 1) * 6 + 1 = 181 frames at 120 fps, 1.5 s
    encoder = EncoderServer(EncoderSettings(model=encoder_onnx, port=0, log_level="warning",
                                            insecure=True))
    port = await encoder.start()
    target = {"encoder": f"127.0.0.1:{port}", "encoder_channel": {"insecure": True}} \
        if through_service else {}
    try:
        async with running_server(gated, tiny_checkpoint, **target) as (server, stub):
            session = await stub.CreateSession(_upload(joints, 1200, layout="ntu25",
                                                       fps=120.0))
            view = server.runtime.sessions.get(session.session_id).uploaded
            answer = await stub.Ask(llm_pb2.AskRequest(
                session_id=session.session_id, question="When does the person walk?"))
            part = await stub.Ask(llm_pb2.AskRequest(
                session_id=session.session_id, question="When does the person walk?",
                frames=llm_pb2.FrameRange(first_frame=1230, last_frame=1290)))
            with pytest.raises(grpc.aio.AioRpcError) as too_long:
                await stub.CreateSession(_upload(np.concatenate([joints] * 9), layout="ntu25",
                                                 fps=120.0))
    finally:
        await encoder.stop(grace_s=0.5)
    # the model read 31 rows at 20 fps; row t is the upload's frame 1200 + 6 t
    assert (view.num_rows, view.feature_fps, view.num_frames, view.fps) == (31, 20.0, 181, 120.0)
    assert [c.num_frames for c in gated.calls] == [31, 11]  # 1230..1290: rows at 1230..1290
    assert (answer.window.first_frame, answer.window.last_frame, answer.window.fps) == \
        (1200, 1380, 120.0)
    span = answer.spans[0]
    assert 1200 <= span.first_frame <= span.last_frame <= 1380
    assert (span.first_frame - 1200) % 6 == 0 and (span.last_frame - 1200) % 6 == 0
    # frame f is (f - 1200) / 120 s after the first capture
    assert span.first_capture_time_us == T0_US + round((span.first_frame - 1200) * 1e6 / 120)
    assert 1230 <= part.spans[0].first_frame <= part.spans[0].last_frame <= 1290
    # 9 x 181 = 1629 frames at 120 fps are 272 rows at 20 fps; the tiny model reads 256 at
    # most: 256 * 6 = 1536 frames at 120 fps (rows at 0, 6, ..., 1530 <= 1535)
    assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1629 frames at 120 fps (13.6 s) are 272 frames at the model's 20 fps, over its " \
        "limit of 256: upload at most 1536 frames at 120 fps (12.8 s)" in \
        too_long.value.details()
