"""Settings of the LLM service: environment variables MOCHAT_LLM_*, CLI flags win.

Nested settings use a double underscore, e.g. MOCHAT_LLM_KAFKA__BOOTSTRAP_SERVERS=broker:9092,
MOCHAT_LLM_KAFKA__SASL_USERNAME=..., MOCHAT_LLM_TLS__CERT_FILE=/tls/tls.crt,
MOCHAT_LLM_AUTH__TOKEN_FILE=/secrets/tokens.yaml, MOCHAT_LLM_ENCODER_CHANNEL__CA_FILE=...
A MOCHAT_LLM_* variable that no setting reads is an error at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.kafka import KafkaConnection
from mochat.security import AuthSettings, ChannelSecurity, ServerTLS
from mochat.serving import split_paths

# mochat.pipeline.DEFAULT_MODEL_DIR, without importing torch to read a default.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "mochat-smollm2-synth"


class LlmSettings(BaseSettings):
    """Every knob of `mochat serve llm`; e.g. MOCHAT_LLM_MAX_BATCH=8."""

    model_config = SettingsConfigDict(env_prefix="MOCHAT_LLM_", env_nested_delimiter="__",
                                      extra="forbid")

    model: Path = Field(DEFAULT_MODEL_DIR, description="MoChat checkpoint directory")
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads (0 = default)")

    host: str = "127.0.0.1"
    port: int = Field(50052, ge=0, le=65535, description="0 picks a free port")
    tls: ServerTLS = Field(default_factory=ServerTLS)
    insecure: bool = Field(False, description="plaintext gRPC, loopback only (development); "
                           "without it the server needs tls.cert_file and tls.key_file")
    auth: AuthSettings = Field(default_factory=AuthSettings)
    reflection: bool = Field(False, description="serve gRPC reflection (admin role)")
    metrics_port: int | None = Field(None, ge=0, le=65535,
                                     description="Prometheus /metrics port; unset = off")

    # -- features from Kafka --------------------------------------------------------------
    consume: bool = Field(True, description="read features_topic (off: uploads only)")
    kafka: KafkaConnection = Field(
        default_factory=lambda: KafkaConnection(client_id="mochat-llm"))
    features_topic: str = "mocap.features"
    start_from: Literal["retention", "earliest", "latest"] = Field(
        "retention", description="where reading starts: records younger than the retention "
                                 "(warms the store after a restart), everything, or new only")
    store_max_age_s: float = Field(300.0, gt=0, description="windows older than this go")
    store_max_bytes: int = Field(256 * 1024 * 1024, ge=1024,
                                 description="feature bytes kept over all streams")
    features_encoder: str | None = Field(None, description="the encoder whose features are "
                                         "stored (MotionFeatures.encoder, e.g. "
                                         "'jgse.onnx@v1'); unset = the one the encoder "
                                         "service (`encoder`) reports, or any without one")
    features_max_jump_s: float = Field(3600.0, gt=0, description="a window this far (in its "
                                       "stream's time) from the stream's latest stored one is "
                                       "refused (default 3600 s, ingest's max_jump_s)")

    # -- uploads --------------------------------------------------------------------------
    encoder: str | None = Field(None, description="encoder service HOST:PORT for uploaded "
                                "sequences; unset = the checkpoint's encoder in-process")
    encoder_timeout_s: float = Field(10.0, gt=0)
    encoder_channel: ChannelSecurity = Field(
        default_factory=ChannelSecurity, description="TLS and token for the encoder service")
    max_upload_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    layout_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="extra skeleton layout files (YAML/JSON) registered "
        "at start, so uploads may come in them; in the variable a comma-separated or JSON list")

    # -- questions --------------------------------------------------------------------------
    max_queue: int = Field(64, ge=1, description="queued questions before RESOURCE_EXHAUSTED")
    batching: bool = Field(True, description="answer queued questions together")
    scheduler: Literal["continuous", "static"] = Field(
        "continuous", description="continuous (default): a question joins the running decode "
        "at the next step and its answer leaves the step it ends; static: batches of one "
        "generation limit, every answer waits for the batch's longest (the old path)")
    max_batch: int = Field(8, ge=1, description="questions per batched decode (continuous: "
                           "rows decoding at once)")
    # A decode takes hundreds of ms, so waiting a few ms for questions to join is cheap.
    batch_delay_ms: float = Field(10.0, ge=0, description="wait to fill a batch (static)")
    prefix_cache_mb: float = Field(256.0, ge=0, description="continuous scheduler: MB of "
                                   "prompt-prefix KV (template, system prompt, motion tokens) "
                                   "kept per window for later questions about it (default "
                                   "256; ~6.6 MB a 10 s window of the shipped model; 0 = off)")
    max_queue_wait_s: float = Field(30.0, gt=0, description="questions without a client "
                                    "deadline are dropped after waiting this long")
    max_new_tokens: int = Field(48, ge=1, description="default generation limit")
    max_new_tokens_limit: int = Field(256, ge=1, description="largest a client may ask for")
    max_question_chars: int = Field(1000, ge=1)
    max_prompt_tokens: int = Field(2048, ge=16, description="prompt tokens of one question "
                                   "(template + motion + earlier turns + question; default "
                                   "2048): older turns are left out to fit, a question that "
                                   "does not fit alone is INVALID_ARGUMENT. Prompt + "
                                   "max_new_tokens must also fit in the model's context")
    max_id_chars: int = Field(256, ge=8, description="longest stream_id / session_id a "
                              "request may name (default 256; longer: INVALID_ARGUMENT)")

    # -- overload ------------------------------------------------------------------------
    admission: bool = Field(True, description="refuse, with DEADLINE_EXCEEDED, a question "
                            "whose deadline the measured service times say cannot be met "
                            "(default on); checked again when its batch starts")
    admission_ewma_alpha: float = Field(0.2, gt=0, le=1, description="weight of the newest "
                                        "batch in the service-time averages (default 0.2)")
    max_inflight_per_client: int = Field(32, ge=0, description="LlmService calls one client "
                                         "may have in flight (default 32; 0 = no limit); "
                                         "beyond it RESOURCE_EXHAUSTED")
    client_id_metadata: str | None = Field(None, description="metadata key that names the "
                                           "client for max_inflight_per_client (set it behind "
                                           "a trusted proxy or gateway, e.g. x-client-id); "
                                           "unset = the peer host (default)")

    # -- sessions --------------------------------------------------------------------------
    max_sessions: int = Field(1000, ge=1)
    session_idle_timeout_s: float = Field(600.0, gt=0)
    max_turns: int = Field(8, ge=1, description="turns of history kept by default")
    max_turns_limit: int = Field(32, ge=1, description="largest history a client may ask for")
    max_history_tokens: int = Field(1024, ge=0, description="prompt tokens of a session's "
                                    "kept turns (default 1024): beyond it the oldest turns "
                                    "are dropped")

    shutdown_grace_s: float = Field(10.0, ge=0.0, description="time in-flight questions get "
                                    "on SIGTERM")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    _split_layout_files = field_validator("layout_files", mode="before")(split_paths)
