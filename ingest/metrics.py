"""Prometheus metrics of one ingest worker (own registry, so tests can run several)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class IngestMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        reg = self.registry
        self.frames = Counter("mochat_ingest_frames", "Frames consumed, by outcome "
                              "(accepted, late, duplicate, rejected)", ["outcome"], registry=reg)
        self.dead_letters = Counter("mochat_ingest_dead_letters", "Records sent to the "
                                    "dead-letter topic, by reason", ["reason"], registry=reg)
        self.windows = Counter("mochat_ingest_windows", "Windows closed, by kind "
                               "(complete, partial)", ["kind"], registry=reg)
        self.features = Counter("mochat_ingest_features", "MotionFeatures produced and "
                                "acknowledged", registry=reg)
        self.windows_invalid = Counter("mochat_ingest_windows_invalid", "Windows the encoder "
                                       "refused as invalid (logged, not retried)", registry=reg)
        self.encode_retries = Counter("mochat_ingest_encode_retries", "Encode calls retried",
                                      ["code"], registry=reg)
        self.batch_size = Histogram("mochat_ingest_encode_batch_windows", "Windows per Encode "
                                    "call", buckets=_BATCH_BUCKETS, registry=reg)
        self.encode_seconds = Histogram("mochat_ingest_encode_seconds", "Encode call latency",
                                        buckets=_LATENCY_BUCKETS, registry=reg)
        self.latency = Histogram("mochat_ingest_frame_to_feature_seconds", "Capture time of a "
                                 "window's last frame to its features' acknowledgement",
                                 buckets=_LATENCY_BUCKETS, registry=reg)
        self.inflight = Gauge("mochat_ingest_inflight_windows", "Windows closed but not yet "
                              "acknowledged downstream", registry=reg)
        self.paused = Gauge("mochat_ingest_paused", "1 while consumption is paused "
                            "(backpressure)", registry=reg)
        self.windowing = Counter("mochat_ingest_windowing_events", "Windowing events: "
                                 "gaps_interpolated, frames_interpolated, gaps_closed, "
                                 "partial_windows_emitted/dropped, streams_flushed_idle, ...",
                                 ["event"], registry=reg)
        self.commits = Counter("mochat_ingest_commits", "Offset commits", registry=reg)
        self.rebalances = Counter("mochat_ingest_rebalances", "Partitions assigned or revoked",
                                  ["event"], registry=reg)

    def serve_http(self, port: int, host: str = "127.0.0.1") -> tuple[Any, int]:
        """Expose /metrics; returns (http server, bound port) - port 0 picks a free one."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server, int(server.server_port)
