"""Settings of the encoder service: environment variables MOCHAT_ENCODER_*, CLI flags win.

Nested settings use a double underscore, e.g. MOCHAT_ENCODER_TLS__CERT_FILE=/tls/tls.crt,
MOCHAT_ENCODER_AUTH__TOKEN_FILE=/secrets/tokens.yaml. A MOCHAT_ENCODER_* variable that no
setting reads is an error at start (`mochat.security.check_environment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mochat.security import AuthSettings, ServerTLS
from mochat.serving import split_paths


class EncoderSettings(BaseSettings):
    """Every knob of `mochat serve encoder`; e.g. MOCHAT_ENCODER_MAX_BATCH=64."""

    model_config = SettingsConfigDict(env_prefix="MOCHAT_ENCODER_", env_nested_delimiter="__",
                                      extra="forbid")

    model: Path = Field(description="exported encoder: .onnx (ONNX Runtime) or "
                                    ".engine/.plan (TensorRT), with its .json sidecar beside it")
    backend: Literal["auto", "onnxruntime", "tensorrt"] = Field(
        "auto", description="auto: by the model file's suffix")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="ONNX Runtime device; auto = CUDA where onnxruntime-gpu has it")
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads (0 = its default)")

    host: str = "127.0.0.1"
    port: int = Field(50051, ge=0, le=65535, description="0 picks a free port")
    tls: ServerTLS = Field(default_factory=ServerTLS)
    insecure: bool = Field(False, description="plaintext gRPC, loopback only (development); "
                           "without it the server needs tls.cert_file and tls.key_file")
    auth: AuthSettings = Field(default_factory=AuthSettings)
    reflection: bool = Field(False, description="serve gRPC reflection (admin role)")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus /metrics port; unset = off, 0 = free port")

    batching: bool = Field(True, description="merge concurrent requests into one batch")
    # 8: on a CPU, JGSE runs no faster per window in larger batches (bench/encoder_service.py
    # measured batch 32 at 79% of batch 1); raise it on a GPU.
    max_batch: int = Field(8, ge=1, description="windows per model call")
    max_delay_ms: float = Field(2.0, ge=0.0, description="longest wait to fill a batch")
    max_queue_windows: int = Field(1024, ge=1, description="queued windows before "
                                                           "RESOURCE_EXHAUSTED")

    layout_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="extra skeleton layout files (YAML/JSON) loaded and "
        "registered at start, so windows may come in them; in the variable a comma-separated "
        "list or a JSON list")

    max_frames: int | None = Field(None, ge=1, description="frames per window at the model's "
                                   "rate, after resampling; unset = the model's limit from its "
                                   "sidecar")
    max_windows_per_request: int = Field(256, ge=1)
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024,
                                   description="larger requests get INVALID_ARGUMENT")

    shutdown_grace_s: float = Field(10.0, ge=0.0, description="time in-flight calls get to "
                                                              "finish on SIGTERM")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    _split_layout_files = field_validator("layout_files", mode="before")(split_paths)
