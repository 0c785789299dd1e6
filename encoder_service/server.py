"""The encoder server: gRPC (encoder, health, reflection when asked), TLS and tokens,
batching, metrics, shutdown.

Startup binds the port first with health NOT_SERVING, loads the model, then reports
SERVING; SIGTERM flips health to NOT_SERVING, refuses new calls and gives in-flight calls
`shutdown_grace_s` to finish before the batcher and the model are released.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health

from encoder_service.access import METHOD_ROLES
from encoder_service.backends import load_backend
from encoder_service.batcher import DynamicBatcher
from encoder_service.metrics import EncoderMetrics
from encoder_service.servicer import EncoderServicer, Runtime
from encoder_service.settings import EncoderSettings
from encoder_service.validation import RequestLimits
from mochat import serving
from mochat.auth import TokenAuth
from mochat.rpc import DecodeGuard
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc

log = structlog.get_logger("encoder_service")
SERVICE_NAME = encoder_pb2.DESCRIPTOR.services_by_name["EncoderService"].full_name
_HEADROOM_BYTES = 64 * 1024


class EncoderServer:
    def __init__(self, settings: EncoderSettings) -> None:
        self.settings = settings
        self.metrics = EncoderMetrics()
        self.servicer = EncoderServicer(self.metrics)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port: int | None = None
        self._metrics_http: Any = None
        # Outermost: a call without a valid token is refused before anything else runs.
        self.auth = TokenAuth(settings.auth.token_file, METHOD_ROLES,
                              reload_interval_s=settings.auth.reload_interval_s,
                              on_refuse=self._refused)
        # Above our own limit, so that requests between the two get INVALID_ARGUMENT with a
        # message; gRPC itself refuses larger ones (RESOURCE_EXHAUSTED) before we see them.
        receive_limit = 2 * settings.max_request_bytes + _HEADROOM_BYTES
        self._server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", receive_limit),
            ("grpc.max_send_message_length", -1),
            # gRPC shares ports by default; a second server on a taken port must fail instead.
            ("grpc.so_reuseport", 0),
        ], interceptors=[self.auth, DecodeGuard(self._undecodable)])

    def _undecodable(self, method: str) -> None:
        self.metrics.requests.labels(method, grpc.StatusCode.INVALID_ARGUMENT.name).inc()

    def _refused(self, method: str, code: grpc.StatusCode) -> None:
        self.metrics.requests.labels(method, code.name).inc()

    async def start(self) -> int:
        """Bind, load the model, report SERVING; returns the bound port."""
        s = self.settings
        encoder_pb2_grpc.add_EncoderServiceServicer_to_server(self.servicer, self._server)
        self.auth.load()
        self.port = serving.bind(self._server, self.health, SERVICE_NAME, s.host, s.port,
                                 tls=s.tls, insecure=s.insecure, reflection=s.reflection,
                                 authenticated=self.auth.enabled, env_prefix="MOCHAT_ENCODER_")
        await serving.set_serving(self.health, SERVICE_NAME, False)
        await self._server.start()
        log.info("loading", model=str(s.model), port=self.port)
        try:
            backend, spec = await asyncio.to_thread(load_backend, s)
        except BaseException:
            await self._server.stop(None)
            raise
        max_frames = min(s.max_frames or spec.max_frames, spec.max_frames,
                         backend.max_frames or spec.max_frames)
        max_batch = min(s.max_batch, backend.max_batch or s.max_batch)
        limits = RequestLimits(max_frames=max_frames,
                               max_windows_per_request=s.max_windows_per_request,
                               max_request_bytes=s.max_request_bytes)
        batcher = DynamicBatcher(backend, self.metrics, max_batch=max_batch,
                                 max_delay_ms=s.max_delay_ms,
                                 max_queue_windows=s.max_queue_windows, batching=s.batching)
        batcher.start()
        self.servicer.runtime = Runtime(backend, spec, batcher, limits)
        if s.metrics_port is not None:
            self._metrics_http, self.metrics_port = self.metrics.serve_http(s.metrics_port,
                                                                            s.host)
        await serving.set_serving(self.health, SERVICE_NAME, True)
        log.info("serving", host=s.host, port=self.port, metrics_port=self.metrics_port,
                 tls=s.tls.enabled, mutual_tls=s.tls.require_client_cert,
                 authenticated=self.auth.enabled,
                 encoder=spec.encoder, layout=spec.layout.name, fps=spec.fps,
                 feature_dim=spec.feature_dim, max_frames=limits.max_frames,
                 layout_files=[str(p) for p in s.layout_files], backend=backend.name,
                 providers=list(backend.providers), batching=s.batching,
                 max_batch=max_batch, max_delay_ms=s.max_delay_ms)
        return self.port

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish (up to the grace), release the model."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        log.info("stopping", grace_s=grace)
        await self.health.enter_graceful_shutdown()
        stopping = asyncio.ensure_future(self._server.stop(grace))
        await asyncio.sleep(0)  # the stop's first step refuses new calls at once
        log.info("draining", grace_s=grace)
        await stopping
        runtime, self.servicer.runtime = self.servicer.runtime, None
        if runtime is not None:
            await runtime.batcher.close()
            runtime.backend.close()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http = None
        log.info("stopped")


async def serve(settings: EncoderSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    await serving.run_until_signalled(EncoderServer(settings))
