"""Sessions on uploaded sequences: encoded by the real encoder service, or in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder_service.server import EncoderServer
from encoder_service.settings import EncoderSettings
from llm_service.uploads import UploadEncoder
from mochat.errors import ConfigError
from mochat.skeleton import SMPL22
from protos.convert import array_to_proto
from protos.mochat.v1 import llm_pb2
from tests.llm_service.conftest import T0_US, GatedPipeline, random_joints, running_server

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="session")
def encoder_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint's own encoder exported to ONNX, as `mochat export` would."""
    from mochat.export.onnx import export_onnx
    from mochat.models.checkpoint import load_encoder

    return export_onnx(load_encoder(tiny_checkpoint), tmp_path_factory.mktemp("enc") / "e.onnx")


def _upload(joints: np.ndarray, first_frame: int = 0) -> llm_pb2.CreateSessionRequest:
    seq = llm_pb2.UploadedSequence(name="rehab-1", layout="smpl22", fps=20.0,
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
    encoder = EncoderServer(EncoderSettings(model=encoder_onnx, port=0, log_level="warning"))
    port = await encoder.start()
    try:
        async with running_server(gated, tiny_checkpoint, encoder=f"127.0.0.1:{port}") as (
                server, stub):
            joints = random_joints(24, seed=3)
            session = await stub.CreateSession(_upload(joints))
            uploaded = server.runtime.sessions.get(session.session_id).uploaded
            answer = await stub.Ask(llm_pb2.AskRequest(session_id=session.session_id,
                                                       question="What does the person do?"))
        # an encoder whose features the checkpoint cannot read is refused at startup
        other = UploadEncoder(f"127.0.0.1:{port}", None, feature_dim=999, layout=SMPL22)
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
