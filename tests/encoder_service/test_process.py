"""The service as a process: SIGTERM drains in-flight calls, no torch, startup errors."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from encoder_service.backends import load_backend
from encoder_service.errors import BackendUnavailableError
from encoder_service.settings import EncoderSettings
from mochat.export.sidecar import read_sidecar, write_sidecar
from protos.convert import features_from_proto
from protos.mochat.v1 import encoder_pb2_grpc
from tests.encoder_service.conftest import encode_request, make_window
from tests.process_helpers import wait_for_event

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "encoder_service"




@pytest.mark.asyncio(loop_scope="session")
async def test_sigterm_finishes_in_flight_calls(tiny_model: Path) -> None:
    # A 1.5 s batching delay keeps the first call in flight while SIGTERM arrives.
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "encoder_service", "--model", str(tiny_model), "--port", "0",
         "--insecure", "--max-delay-ms", "1500", "--max-batch", "64", "--shutdown-grace-s", "10"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        serving = await asyncio.to_thread(wait_for_event, proc, "serving")
        assert serving["level"] == "info" and serving["providers"] == ["CPUExecutionProvider"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving['port']}") as channel:
            stub = encoder_pb2_grpc.EncoderServiceStub(channel)
            in_flight = asyncio.ensure_future(stub.Encode(encode_request(make_window("d", 0, 32))))
            await asyncio.sleep(0.3)
            assert not in_flight.done()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(wait_for_event, proc, "draining")
            with pytest.raises(grpc.aio.AioRpcError) as refused:  # new calls are refused
                await stub.Encode(encode_request(make_window("late", 0, 8)), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            reply = await in_flight
        assert features_from_proto(reply.features[0]).shape == (32, 4)
        assert await asyncio.to_thread(proc.wait, 15) == 0
        assert time.monotonic() - started < 10  # it ended once the call was done
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_service_imports_no_torch(tiny_model: Path) -> None:
    # Load the model and run a batch through every module of the service, then look.
    code = (
        "import sys, numpy as np\n"
        "import encoder_service.__main__, encoder_service.server, encoder_service.cli\n"
        "import encoder_service.tensorrt_backend\n"
        "from encoder_service.backends import load_backend\n"
        "from encoder_service.settings import EncoderSettings\n"
        f"backend, spec = load_backend(EncoderSettings(model={str(tiny_model)!r}))\n"
        "out = backend.run(np.zeros((2, 8, 22, 3), np.float32), np.ones((2, 8), bool))\n"
        "assert out.shape == (2, 8, 4), out.shape\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text()
        assert "import torch" not in text and "from torch" not in text, source


def _plan_with_sidecar(tiny_model: Path, tmp_path: Path) -> Path:
    plan = tmp_path / "encoder.plan"
    plan.write_bytes(b"not an engine")
    write_sidecar(read_sidecar(tiny_model), plan)
    return plan


def test_tensorrt_missing_is_a_clear_startup_error(tiny_model: Path, tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorrt is installed here")
    plan = _plan_with_sidecar(tiny_model, tmp_path)
    with pytest.raises(BackendUnavailableError, match="needs the `tensorrt`"):
        load_backend(EncoderSettings(model=plan))  # backend 'auto' picks TensorRT by suffix
    result = subprocess.run([sys.executable, "-m", "mochat", "serve", "encoder", "--model",
                             str(plan), "--port", "0", "--insecure"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "error: the TensorRT backend needs the `tensorrt`" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_and_cuda_are_startup_errors(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="model file not found"):
        load_backend(EncoderSettings(model=tmp_path / "nope.onnx"))
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailableError, match="install onnxruntime-gpu"):
            load_backend(EncoderSettings(model=tiny_model, device="cuda"))


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    from encoder_service.cli import settings_from_args
    from mochat.cli import build_parser

    monkeypatch.setenv("MOCHAT_ENCODER_MAX_BATCH", "7")
    monkeypatch.setenv("MOCHAT_ENCODER_PORT", "6000")
    args = build_parser().parse_args(["serve", "encoder", "--model", str(tiny_model),
                                      "--port", "6001", "--no-batching"])
    settings = settings_from_args(args)
    assert settings.port == 6001  # flag beats environment
    assert settings.max_batch == 7  # environment beats default (8)
    assert settings.batching is False and settings.host == "127.0.0.1"
