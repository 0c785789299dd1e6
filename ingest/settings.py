"""Settings of the ingest service: environment variables MOCHAT_INGEST_*, CLI flags win.

Nested settings use a double underscore, e.g.
MOCHAT_INGEST_KAFKA__BOOTSTRAP_SERVERS=broker:9092, MOCHAT_INGEST_KAFKA__SASL_USERNAME=...,
MOCHAT_INGEST_ENCODER_CHANNEL__CA_FILE=/tls/ca.crt, MOCHAT_INGEST_ENCODER_CHANNEL__TOKEN_FILE=...
A MOCHAT_INGEST_* variable that no setting reads is an error at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.kafka import KafkaConnection
from ingest.validation import FrameLimits
from ingest.windowing import WindowingConfig
from mochat.security import ChannelSecurity
from mochat.serving import split_paths

DLQ_OVERHEAD_BYTES = 2048  # record framing and the reason/source/size headers


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOCHAT_INGEST_", env_nested_delimiter="__",
                                      extra="forbid")

    kafka: KafkaConnection = Field(default_factory=KafkaConnection)
    frames_topic: str = "mocap.frames"
    features_topic: str = "mocap.features"
    dlq_topic: str = "mocap.frames.dlq"
    group_id: str = "mochat-ingest"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    # Kafka's usual values; against Tansu (tests, demos) use ~1500-3000 ms, because a group
    # join waits for the rebalance timeout there.
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    rebalance_timeout_ms: int = Field(30_000, ge=1000)
    # Kafka answers a fetch as soon as data is there; Tansu holds it for the whole wait, so
    # local runs set ~20 ms (each fetch then costs a round trip more often, nothing else).
    fetch_max_wait_ms: int = Field(500, ge=1)
    poll_timeout_ms: int = Field(50, ge=1)
    poll_max_records: int = Field(2000, ge=1)
    commit_interval_ms: int = Field(200, ge=10, description="how often safe offsets commit")
    revoke_drain_timeout_s: float = Field(10.0, ge=0.0, description="time in-flight windows "
                                          "of a revoked partition get before its state drops")

    encoder: str = Field("127.0.0.1:50051", description="encoder service HOST:PORT")
    encoder_timeout_s: float = Field(10.0, gt=0)
    encoder_channel: ChannelSecurity = Field(
        default_factory=ChannelSecurity, description="TLS and token for the encoder service "
        "(the token needs the encode role)")
    encoder_max_batch: int = Field(32, ge=1, description="windows per Encode call")
    encoder_max_delay_ms: float = Field(5.0, ge=0, description="wait to fill a batch")
    encoder_concurrency: int = Field(2, ge=1, description="Encode calls in flight")
    max_inflight_windows: int = Field(256, ge=1, description="pause consumption above this; "
                                      "resume at half")

    # Windows in seconds, cut in each stream's own frames (round(window_s * fps), ...):
    # 3.2 s / 0.8 s are 64 / 16 frames at 20 fps and 384 / 96 at 120 fps.
    window_s: float = Field(3.2, gt=0, description="window length, seconds")
    step_s: float = Field(0.8, gt=0, description="hop between window starts, seconds")
    grace_ms: float = Field(200.0, ge=0, description="reorder wait for out-of-order frames")
    gap_policy: Literal["interpolate", "close"] = "interpolate"
    max_gap_ms: float = Field(400.0, ge=0, description="longest gap filled by interpolation")
    idle_timeout_ms: float = 2000.0
    flush_policy: Literal["emit", "drop"] = "emit"
    min_s: float = Field(0.8, ge=0, description="shortest partial window emitted, seconds")
    max_jump_s: float = Field(3600.0, gt=0, description="a frame this far (in the stream's "
                              "time) from the stream's latest is absurd")
    layout_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="extra skeleton layout files (YAML/JSON) registered "
        "at start, so frames may name them; in the variable a comma-separated or JSON list")

    # Limits on what a producer of frames can make this service do (ingest/validation.py).
    # A record over a limit goes to the dead-letter topic, truncated, and is never decoded.
    max_record_bytes: int = Field(64 * 1024, ge=1024, description="largest frame record "
                                  "value (default 64 KiB: a 5,000-joint pose)")
    max_header_bytes: int = Field(4 * 1024, ge=0, description="largest total of a frame "
                                  "record's headers (default 4 KiB)")
    max_stream_id_chars: int = Field(256, ge=8, description="longest stream id (default 256)")
    max_layout_chars: int = Field(128, ge=8, description="longest layout name (default 128)")
    max_batch_frames: int = Field(512, ge=1, description="most frames in one FrameBatch "
                                  "record (default 512, 4.3 s at 120 fps)")
    max_request_bytes: int = Field(1024 * 1024, ge=64 * 1024, description="the producer's "
                                   "max_request_size (default 1 MiB, Kafka's): a features "
                                   "record over it is dead-lettered, not produced")
    dlq_max_detail_bytes: int = Field(1024, ge=64, description="dead-letter `detail` header "
                                      "(default 1 KiB; longer is cut)")
    dlq_max_payload_bytes: int = Field(64 * 1024, ge=0, description="bytes of the original "
                                       "record a dead letter keeps (default 64 KiB)")
    encoder_reconnect_max_ms: int = Field(500, ge=50, description="longest wait between "
                                          "reconnects to the encoder and between retries "
                                          "(default 500 ms; gRPC's own is 120 s)")

    host: str = "127.0.0.1"
    metrics_port: int | None = Field(None, ge=0, le=65535, description="unset = off")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    _split_layout_files = field_validator("layout_files", mode="before")(split_paths)

    @model_validator(mode="after")
    def _dead_letters_fit(self) -> IngestSettings:
        """A dead letter (payload, detail, key, headers) must fit the producer's limit, or
        one poison record would stop the service."""
        need = self.dlq_max_payload_bytes + self.dlq_max_detail_bytes + \
            4 * self.max_stream_id_chars + DLQ_OVERHEAD_BYTES
        if need > self.max_request_bytes:
            raise ValueError(f"dlq_max_payload_bytes + dlq_max_detail_bytes + a key need "
                             f"{need} bytes, over max_request_bytes {self.max_request_bytes}")
        return self

    def frame_limits(self) -> FrameLimits:
        return FrameLimits(max_record_bytes=self.max_record_bytes,
                           max_header_bytes=self.max_header_bytes,
                           max_stream_id_chars=self.max_stream_id_chars,
                           max_layout_chars=self.max_layout_chars,
                           max_batch_frames=self.max_batch_frames)

    def windowing(self) -> WindowingConfig:
        return WindowingConfig(
            window_s=self.window_s, step_s=self.step_s, grace_ms=self.grace_ms,
            gap_policy=self.gap_policy, max_gap_ms=self.max_gap_ms,
            idle_timeout_ms=self.idle_timeout_ms, flush_policy=self.flush_policy,
            min_s=self.min_s, max_jump_s=self.max_jump_s)
