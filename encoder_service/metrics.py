"""Prometheus metrics of one encoder server (own registry, so tests can run several)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class EncoderMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        reg = self.registry
        self.requests = Counter("mochat_encoder_requests", "Encode requests by method and "
                                "status code", ["method", "code"], registry=reg)
        self.windows = Counter("mochat_encoder_windows", "Windows encoded", registry=reg)
        self.latency = Histogram("mochat_encoder_request_seconds", "Request latency from "
                                 "arrival to response", ["method"], buckets=_LATENCY_BUCKETS,
                                 registry=reg)
        self.batch_size = Histogram("mochat_encoder_batch_windows", "Windows per model call",
                                    buckets=_BATCH_BUCKETS, registry=reg)
        self.batch_requests = Histogram("mochat_encoder_batch_requests", "Requests merged "
                                        "into one model call", buckets=_BATCH_BUCKETS,
                                        registry=reg)
        self.inference = Histogram("mochat_encoder_inference_seconds", "Model call time "
                                   "(padding included)", buckets=_LATENCY_BUCKETS, registry=reg)
        self.queue_depth = Gauge("mochat_encoder_queue_windows", "Windows waiting for a batch",
                                 registry=reg)

    def serve_http(self, port: int, host: str = "127.0.0.1") -> tuple[Any, int]:
        """Expose /metrics; returns (http server, bound port) - port 0 picks a free one."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server, int(server.server_port)
