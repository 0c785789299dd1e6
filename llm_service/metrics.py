"""Prometheus metrics of one LLM server (own registry, so tests can run several)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
_BATCH = (1, 2, 4, 8, 16, 32)
_TOKENS_PER_S = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass
class LlmMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        reg = self.registry
        self.requests = Counter("mochat_llm_requests", "RPCs by method and status code",
                                ["method", "code"], registry=reg)
        self.questions = Counter("mochat_llm_questions", "Questions by outcome (answered, "
                                 "expired, late, abandoned)", ["outcome"], registry=reg)
        self.queue_depth = Gauge("mochat_llm_queue_depth", "Questions waiting in the queue",
                                 registry=reg)
        self.queue_wait = Histogram("mochat_llm_queue_wait_seconds", "Time a question waited "
                                    "before its batch started", buckets=_SECONDS, registry=reg)
        self.first_token = Histogram("mochat_llm_time_to_first_token_seconds", "From arrival "
                                     "to the first generated token", buckets=_SECONDS,
                                     registry=reg)
        self.answer_latency = Histogram("mochat_llm_answer_seconds", "From arrival to the "
                                        "complete answer", buckets=_SECONDS, registry=reg)
        self.tokens_per_s = Histogram("mochat_llm_tokens_per_second", "Generated tokens per "
                                      "second of one answer", buckets=_TOKENS_PER_S,
                                      registry=reg)
        self.tokens = Counter("mochat_llm_generated_tokens", "Tokens generated", registry=reg)
        self.batch_size = Histogram("mochat_llm_batch_questions", "Questions per batched "
                                    "decode", buckets=_BATCH, registry=reg)
        self.prefix_lookups = Counter("mochat_llm_prefix_cache_lookups", "Prompts whose "
                                      "motion prefix was looked up in the prefix cache, by "
                                      "outcome (hit, miss)", ["outcome"], registry=reg)
        self.prefix_bytes = Gauge("mochat_llm_prefix_cache_bytes", "Bytes of prefix KV held",
                                  registry=reg)
        self.records = Counter("mochat_llm_feature_records", "MotionFeatures records read, by "
                               "outcome (added, duplicate, expired; refused: invalid, "
                               "bad_rate, wrong_rate, wrong_encoder, too_long, empty, "
                               "not_finite, wrong_dim, too_large, far_jump)", ["outcome"],
                               registry=reg)
        self.store_windows = Gauge("mochat_llm_store_windows", "Windows in the feature store",
                                   registry=reg)
        self.store_bytes = Gauge("mochat_llm_store_bytes", "Feature bytes in the store",
                                 registry=reg)
        self.store_streams = Gauge("mochat_llm_store_streams", "Streams in the feature store",
                                   registry=reg)
        self.sessions = Gauge("mochat_llm_sessions", "Open sessions", registry=reg)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (tests, bench); 0 when it was never set."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else float(got)

    def serve_http(self, port: int, host: str = "127.0.0.1") -> tuple[Any, int]:
        """Expose /metrics; returns (http server, bound port) - port 0 picks a free one."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server, int(server.server_port)
