"""The live path end to end: a 120 fps stream through broker, ingest, encoder, LLM service.

One synthetic motion (6 s) is replayed twice from files: as it was made, 20 fps (stream
"slow", frames from 2000), and resampled to 120 fps (stream "fast", frames from 12000).
Ingest cuts both into 3.2 s windows every 0.8 s in their own frames (64 / 16 frames and
384 / 96 frames), the encoder service (a subprocess serving the checkpoint's encoder)
resamples every window to the model's 20 fps, and the LLM service answers in each stream's
own frame numbers and capture times. The same seconds of motion give the same rows, so the
fast stream's span is the slow one's, six times the frames from the start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.broker import free_port
from ingest.replay import load_streams, replay_to_kafka
from ingest.settings import IngestSettings
from mochat.skeleton import resample
from protos.mochat.v1 import llm_pb2
from tests.ingest.helpers import (
    FAST_GROUP,
    expected_window_ids,
    running_ingest,
    start_encoder,
    stop_process,
    wait_serving,
    wait_until,
)
from tests.llm_service.conftest import GatedPipeline, running_server

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.kafka,
              pytest.mark.timeout(120)]
WHEN = "When does the person squat?"


@pytest.fixture
def encoder_service(encoder_onnx: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_encoder(encoder_onnx, port, tmp_path / "encoder.log")
    try:
        wait_serving(f"127.0.0.1:{port}", proc)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


def motion_files(tmp_path: Path) -> tuple[Path, Path, int]:
    """The first 6 s of a synthetic motion as a 20 fps .npy and a 120 fps .npz."""
    from mochat.synth.generate import synthesize_motion

    joints = synthesize_motion("m", np.random.default_rng(0)).joints[:120]  # 6 s at 20 fps
    slow, fast = tmp_path / "m20.npy", tmp_path / "m120.npz"
    np.save(slow, joints)
    at_120 = resample(joints, 20.0, 120.0)  # (120 - 1) * 6 + 1 = 715 frames
    np.savez(fast, joints=at_120, fps=120.0, layout="smpl22")
    return slow, fast, at_120.shape[0]


async def test_a_120_fps_stream_is_answered_in_its_own_frames(
        gated: GatedPipeline, tiny_checkpoint: Path, encoder_service: str,
        kafka_bootstrap: str, kafka_topics, tmp_path: Path) -> None:
    topics = kafka_topics(frames=2, features=2)
    slow_file, fast_file, fast_frames = motion_files(tmp_path)
    # each file at its own rate (the .npz says 120 fps, the .npy is 20)
    fast = load_streams([fast_file], streams=1, prefix="fast", start_frame=12_000)
    slow = load_streams([slow_file], streams=1, prefix="slow", start_frame=2_000)
    assert [(s.fps, s.num_frames) for s in fast + slow] == [(120.0, 715), (20.0, 120)]
    settings = IngestSettings(
        kafka={"bootstrap_servers": kafka_bootstrap}, frames_topic=topics["frames"],
        features_topic=topics["features"], dlq_topic=topics["dlq"], group_id="live-path",
        encoder=encoder_service, encoder_channel={"insecure": True}, idle_timeout_ms=1000.0,
        **FAST_GROUP)  # windows: defaults
    # fast: complete windows at 12000, 12096, 12192, 12288 (+ 383 <= 12714) and the partial
    # one at 12384; slow: 2000, 2016, 2032, 2048 and the partial one at 2064
    want = expected_window_ids(fast + slow, settings)
    assert sorted(w for w in want if w.startswith("fast")) == \
        [f"fast-0:{12_000 + 96 * k}" for k in range(5)]
    async with running_server(gated, tiny_checkpoint, consume=True, start_from="earliest",
                              features_topic=topics["features"],
                              kafka={"bootstrap_servers": kafka_bootstrap}) as (server, stub):
        async with running_ingest(settings):
            await replay_to_kafka(fast + slow, settings.frames_topic,
                                  settings.kafka.client_kwargs(), realtime=False)
            store = server.runtime.store
            assert await wait_until(lambda: store.stats().windows == len(want), 45.0), \
                f"{store.stats().windows} of {len(want)} windows reached the LLM service"
        # the window 12192..12575 of the fast stream is 2032..2095 of the slow one
        fast_answer = await stub.Ask(llm_pb2.AskRequest(
            stream_id="fast-0", question=WHEN,
            frames=llm_pb2.FrameRange(first_frame=12_192, last_frame=12_575)))
        slow_answer = await stub.Ask(llm_pb2.AskRequest(
            stream_id="slow-0", question=WHEN,
            frames=llm_pb2.FrameRange(first_frame=2_032, last_frame=2_095)))
        latest = await stub.Ask(llm_pb2.AskRequest(stream_id="fast-0", question=WHEN))
        fast_view = store.select("fast-0", 12_192, 12_575, max_frames=64)
        slow_view = store.select("slow-0", 2_032, 2_095, max_frames=64)
    # both read the same 64 rows at 20 fps: the encoder resampled the 384-frame window
    assert [c.num_frames for c in gated.calls[:2]] == [64, 64]
    assert (fast_view.num_rows, fast_view.feature_fps, fast_view.fps) == (64, 20.0, 120.0)
    feature_gap = float(np.abs(fast_view.features - slow_view.features).max())
    assert feature_gap < 0.05 * float(np.abs(slow_view.features).max())
    window = fast_answer.window
    assert (window.first_frame, window.last_frame, window.fps) == (12_192, 12_575, 120.0)
    assert list(window.window_ids) == ["fast-0:12192"]
    (span,) = fast_answer.spans
    (slow_span,) = slow_answer.spans
    # in the stream's own 120 fps frames: inside the window, on the rows' 6-frame grid,
    # at six times the 20 fps stream's frames from the same instant (one row apart at most)
    assert 12_192 <= span.first_frame <= span.last_frame <= 12_575
    assert (span.first_frame - 12_192) % 6 == 0 and (span.last_frame - 12_192) % 6 == 0
    for got, ref in ((span.first_frame, slow_span.first_frame),
                     (span.last_frame, slow_span.last_frame)):
        assert abs((got - 12_000) - 6 * (ref - 2_000)) <= 6
    # capture times: frame f was captured (f - first) / 120 s after the window's first frame
    for frame, at_us in ((span.first_frame, span.first_capture_time_us),
                         (span.last_frame, span.last_capture_time_us)):
        assert abs(at_us - window.first_capture_time_us
                   - round((frame - 12_192) * 1e6 / 120)) <= 1
    # the latest window is the partial one flushed when the stream went quiet
    assert (latest.window.first_frame, latest.window.last_frame) == \
        (12_384, 12_000 + fast_frames - 1)
    assert 12_384 <= latest.spans[0].first_frame <= latest.spans[0].last_frame <= 12_714
