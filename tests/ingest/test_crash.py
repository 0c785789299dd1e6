"""SIGKILL the ingest process mid-stream, restart it: every expected window still arrives."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.replay import load_streams, replay_to_kafka
from protos.mochat.v1 import frames_pb2
from tests.ingest.helpers import (
    REPO,
    SHORT_AT_120,
    expected_window_ids,
    motion_file,
    read_topic,
    subprocess_env,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def start_ingest(settings, log_path: Path) -> subprocess.Popen[bytes]:  # noqa: ANN001
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO,
                                env=subprocess_env(settings), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


async def test_sigkill_mid_stream_then_restart_loses_no_window(
        tmp_path: Path, kafka_topics, make_settings, encoder_address: str) -> None:
    settings = make_settings(kafka_topics(frames=2, features=2), encoder_address,
                             **SHORT_AT_120)
    # 100 frames at 20 fps -> 595 frames at 120 fps (~5 s live) per stream
    streams = load_streams([motion_file(tmp_path / "m.npy", 100)], streams=4, fps=120.0)
    want = expected_window_ids(streams, settings)
    # per stream: complete windows start at 0, 16, ..., 560 (36) + a partial one at 576
    assert len(want) == 4 * 37
    bootstrap, log_path = settings.kafka.bootstrap_servers, tmp_path / "ingest.log"
    first = start_ingest(settings, log_path)
    second = None
    try:
        producing = asyncio.create_task(replay_to_kafka(
            streams, settings.frames_topic, settings.kafka.client_kwargs()))
        await read_topic(bootstrap, settings.features_topic, until=lambda r: len(r) >= 8)
        assert not producing.done(), "the kill must land mid-stream"
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = start_ingest(settings, log_path)
        await producing
        records = await read_topic(
            bootstrap, settings.features_topic, timeout_s=60.0,
            until=lambda r: want <= {frames_pb2.MotionFeatures.FromString(x.value).window_id
                                     for x in r})
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
    got = [frames_pb2.MotionFeatures.FromString(r.value).window_id for r in records]
    missing = sorted(want - set(got))
    assert not missing, f"{len(missing)} windows lost, e.g. {missing[:5]}"
    assert set(got) <= want  # nothing unexpected; duplicates are allowed (at-least-once)
    assert second is not None and second.returncode == 0  # SIGTERM: a clean shutdown
