"""The ingest worker's encoder client against a real encoder service process."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from ingest.broker import free_port
from ingest.service import IngestService
from ingest.windowing import Window
from tests.ingest.helpers import start_encoder, stop_process, wait_serving

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def window(first: int) -> Window:
    rng = np.random.default_rng(first)
    joints = rng.normal(0.0, 0.3, size=(32, 22, 3)).astype(np.float32)  # (T, J, 3)
    return Window("r", f"r:{first}", first, first + 31, "smpl22", 20.0, joints,
                  first_capture_time_us=0, last_capture_time_us=0, interpolated_frames=0,
                  min_offset=-1, complete=True)


async def test_a_restarted_encoder_is_used_within_two_seconds_of_serving(
        tmp_path: Path, kafka_topics, make_settings, encoder_model: Path) -> None:
    # gRPC's default reconnect backoff (1 s, x1.6, to 120 s, +-20 %) tries at about 1, 2.6,
    # 5.2, 9.3 and 15.8 s after the encoder went away; an encoder that is back after ~10 s
    # (7 s down + its start) was first used ~6 s later. With the channel's backoff capped
    # at encoder_reconnect_max_ms (500) it is used within ~0.5 s.
    port = free_port()
    address, log_path = f"127.0.0.1:{port}", tmp_path / "encoder.log"
    settings = make_settings(kafka_topics(), address, encoder_timeout_s=60.0)
    service = IngestService(settings)  # not started: only its encoder client is used
    proc = start_encoder(encoder_model, port, log_path)
    try:
        await asyncio.to_thread(wait_serving, address, proc)
        assert (await service.encoder.encode([window(0)]))[0] is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pending = asyncio.create_task(service.encoder.encode([window(16)]))  # waits
        await asyncio.sleep(7.0)
        assert not pending.done()
        proc = start_encoder(encoder_model, port, log_path)
        await asyncio.to_thread(wait_serving, address, proc)
        back = time.monotonic()
        features = await pending
        late_s = time.monotonic() - back
    finally:
        stop_process(proc)
        await service.encoder.close()
    assert features[0] is not None and features[0].window_id == "r:16"
    assert late_s < 2.0, f"first encode {late_s:.2f} s after the encoder was back"
