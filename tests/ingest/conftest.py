"""Fixtures of the ingest tests: a tiny exported encoder, a real encoder service, settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.broker import free_port
from ingest.settings import IngestSettings
from tests.ingest.helpers import FAST_GROUP, start_encoder, stop_process, wait_serving


@pytest.fixture(scope="session")
def encoder_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny JGSE encoder for SMPL-22 exported to ONNX (+ sidecar), made once per session."""
    torch = pytest.importorskip("torch")
    from mochat.export.onnx import export_onnx
    from mochat.models.encoder import build_encoder, encoder_tiny
    from mochat.skeleton import SMPL22

    torch.manual_seed(0)
    model = build_encoder("jgse", encoder_tiny(), SMPL22)
    return export_onnx(model, tmp_path_factory.mktemp("encoder") / "tiny.onnx")


@pytest.fixture(scope="session")
def encoder_address(encoder_model: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[str]:
    """A real encoder service (subprocess) on a free loopback port."""
    port = free_port()
    proc = start_encoder(encoder_model, port,
                         tmp_path_factory.mktemp("encoder-log") / "encoder.log")
    try:
        wait_serving(f"127.0.0.1:{port}", proc)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture
def make_settings(kafka_bootstrap: str) -> Callable[..., IngestSettings]:
    counter = iter(range(10**6))

    def make(topics: dict[str, str], encoder: str, **overrides: object) -> IngestSettings:
        base = dict(kafka={"bootstrap_servers": kafka_bootstrap},
                    frames_topic=topics["frames"], features_topic=topics["features"],
                    dlq_topic=topics["dlq"], group_id=f"{topics['frames']}.g{next(counter)}",
                    encoder=encoder, encoder_channel={"insecure": True}, window_s=1.6,
                    step_s=0.8, grace_ms=100.0, min_s=0.8, idle_timeout_ms=1000.0, **FAST_GROUP)
        return IngestSettings(**(base | overrides))

    return make


