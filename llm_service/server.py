"""The LLM server: gRPC (LlmService, health, reflection when asked; TLS and tokens), Kafka
features, queue, shutdown.

Startup binds the port first with health NOT_SERVING, loads the checkpoint, starts the
features consumer and the model worker, then reports SERVING. SIGTERM flips health to
NOT_SERVING, refuses new calls and gives in-flight questions `shutdown_grace_s` to be
answered before the queue, the consumer and the model are released.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health

from llm_service.access import METHOD_ROLES
from llm_service.admission import ServiceTimes
from llm_service.consumer import FeatureChecks, FeatureConsumer
from llm_service.continuous import ContinuousEngine
from llm_service.engine import Engine
from llm_service.errors import NotServingError
from llm_service.limits import InflightLimit, PromptBudget
from llm_service.metrics import LlmMetrics
from llm_service.queue import Job, QuestionQueue
from llm_service.servicer import LlmServicer, Runtime
from llm_service.sessions import SessionStore
from llm_service.settings import LlmSettings
from llm_service.store import FeatureStore
from llm_service.uploads import UploadEncoder
from llm_service.validation import AskLimits
from mochat import serving
from mochat.auth import TokenAuth, caller
from mochat.errors import ConfigError
from mochat.rpc import DecodeGuard
from mochat.serving import load_layout_files
from protos.mochat.v1 import llm_pb2, llm_pb2_grpc

log = structlog.get_logger("llm_service")
SERVICE_NAME = llm_pb2.DESCRIPTOR.services_by_name["LlmService"].full_name
_REAP_INTERVAL_S = 5.0


def load_pipeline(settings: LlmSettings) -> Any:
    """The MoChatPipeline of settings.model (in a worker thread: it takes seconds)."""
    import torch

    from mochat.pipeline import MoChatPipeline

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    if not (settings.model / "mochat_config.json").is_file():
        raise ConfigError(f"{settings.model}: not a MoChat checkpoint (no mochat_config.json); "
                          "pass --model DIR")
    return MoChatPipeline.from_pretrained(settings.model,
                                          max_new_tokens=settings.max_new_tokens)


class LlmServer:
    def __init__(self, settings: LlmSettings, *, pipeline: Any = None,
                 metrics: LlmMetrics | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline  # loaded in start() unless given (tests, bench)
        self.metrics = metrics or LlmMetrics()
        self.servicer = LlmServicer(self.metrics)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port: int | None = None
        self.runtime: Runtime | None = None
        self.engine: Engine | None = None
        self.consumer: FeatureConsumer | None = None
        self._metrics_http: Any = None
        self._reaper: asyncio.Task[None] | None = None
        limit = settings.max_upload_bytes + 64 * 1024
        self.inflight = InflightLimit(
            settings.max_inflight_per_client, metadata_key=settings.client_id_metadata,
            identify=self._token_id,
            on_refuse=lambda method: self.metrics.requests.labels(
                method, grpc.StatusCode.RESOURCE_EXHAUSTED.name).inc())
        # Outermost: a call without a valid token is refused before it takes a slot.
        self.auth = TokenAuth(settings.auth.token_file, METHOD_ROLES,
                              reload_interval_s=settings.auth.reload_interval_s,
                              on_refuse=lambda method, code: self.metrics.requests.labels(
                                  method, code.name).inc())
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit)],
                                       interceptors=[self.auth, self.inflight,
                                                     DecodeGuard(self._undecodable)])

    async def start(self) -> int:
        """Bind, load the model, start consuming and answering, report SERVING."""
        s = self.settings
        llm_pb2_grpc.add_LlmServiceServicer_to_server(self.servicer, self._server)
        self.auth.load()
        self.port = serving.bind(self._server, self.health, SERVICE_NAME, s.host, s.port,
                                 tls=s.tls, insecure=s.insecure, reflection=s.reflection,
                                 authenticated=self.auth.enabled, env_prefix="MOCHAT_LLM_")
        await serving.set_serving(self.health, SERVICE_NAME, False)
        await self._server.start()
        try:
            await self._start_runtime()
        except BaseException:
            await self.stop(grace_s=0)
            raise
        await serving.set_serving(self.health, SERVICE_NAME, True)
        log.info("serving", host=s.host, port=self.port, metrics_port=self.metrics_port,
                 tls=s.tls.enabled, mutual_tls=s.tls.require_client_cert,
                 authenticated=self.auth.enabled, model=str(s.model), batching=s.batching,
                 scheduler=s.scheduler, prefix_cache_mb=s.prefix_cache_mb,
                 max_batch=s.max_batch if s.batching else 1,
                 max_queue=s.max_queue, consume=s.consume, features_topic=s.features_topic,
                 encoder=s.encoder)
        return self.port

    async def _start_runtime(self) -> None:
        s = self.settings
        load_layout_files(s.layout_files)  # uploads may come in them
        if self.pipeline is None:
            log.info("loading", model=str(s.model), port=self.port)
            self.pipeline = await asyncio.to_thread(load_pipeline, s)
        model = self.pipeline.model
        encoder = model.encoder
        fps = float(encoder.config.fps)  # the rate the model reads; rows come at it
        max_frames = min(model.config.max_frames, encoder.config.max_frames)
        store = FeatureStore(max_age_s=s.store_max_age_s, max_bytes=s.store_max_bytes,
                             feature_dim=encoder.feature_dim, feature_fps=fps,
                             max_jump_s=s.features_max_jump_s)
        uploads = UploadEncoder(s.encoder, self.pipeline, feature_dim=encoder.feature_dim,
                                layout=encoder.layout, fps=fps, max_frames=max_frames,
                                timeout_s=s.encoder_timeout_s, security=s.encoder_channel)
        max_batch = s.max_batch if s.batching else 1
        times = ServiceTimes(alpha=s.admission_ewma_alpha)
        queue = QuestionQueue(s.max_queue, max_wait_s=s.max_queue_wait_s, on_drop=self._dropped,
                              times=times if s.admission else None, max_batch=max_batch)
        self.runtime = Runtime(
            store=store, queue=queue, uploads=uploads, layout=encoder.layout,
            sessions=SessionStore(max_sessions=s.max_sessions,
                                  idle_timeout_s=s.session_idle_timeout_s,
                                  default_max_turns=s.max_turns,
                                  max_turns_limit=s.max_turns_limit,
                                  max_history_tokens=s.max_history_tokens),
            limits=AskLimits(s.max_question_chars, s.max_new_tokens, s.max_new_tokens_limit,
                             s.max_id_chars),
            max_frames=max_frames, max_upload_bytes=s.max_upload_bytes,
            prompts=PromptBudget.measure(model, s.max_prompt_tokens))
        await uploads.check()
        self.engine = self._engine(queue, max_batch, times, uploads.model_encoder or "")
        self.engine.start()
        if s.consume:
            checks = FeatureChecks(feature_fps=fps, max_rows=max_frames,
                                   encoder=s.features_encoder or uploads.model_encoder,
                                   max_id_chars=s.max_id_chars)
            self.consumer = FeatureConsumer(s, store, self.metrics, checks)
            await self.consumer.start()
        self._reaper = asyncio.create_task(self._reap_sessions(), name="llm-reaper")
        if s.metrics_port is not None:
            self._metrics_http, self.metrics_port = self.metrics.serve_http(s.metrics_port,
                                                                            s.host)
        self.servicer.runtime = self.runtime

    def _engine(self, queue: QuestionQueue, max_batch: int, times: ServiceTimes,
                encoder: str) -> Engine:
        s = self.settings
        if s.scheduler == "static":
            return Engine(self.pipeline, queue, self.metrics, max_batch=max_batch,
                          batch_delay_s=s.batch_delay_ms / 1000.0, times=times)
        from mochat.models.prefix_cache import PrefixCache

        cache = PrefixCache(int(s.prefix_cache_mb * 2**20)) if s.prefix_cache_mb > 0 else None
        return ContinuousEngine(self.pipeline, queue, self.metrics, max_batch=max_batch,
                                batch_delay_s=0.0, times=times, prefix_cache=cache,
                                model_tag=f"{s.model}|{encoder}")

    def _token_id(self) -> str | None:
        """The caller's token id (each token its own in-flight limit); None when tokens are
        off (every caller is the anonymous one: the metadata key or peer host names it)."""
        return caller().token_id or None if self.auth.enabled else None

    def _undecodable(self, method: str) -> None:
        self.metrics.requests.labels(method, grpc.StatusCode.INVALID_ARGUMENT.name).inc()

    def _dropped(self, job: Job, reason: str) -> None:
        self.metrics.questions.labels(reason).inc()
        log.info("question_dropped", reason=reason, **job.context)

    async def _reap_sessions(self) -> None:
        while True:
            await asyncio.sleep(_REAP_INTERVAL_S)
            if self.runtime is not None:
                ended = self.runtime.sessions.reap()
                self.metrics.sessions.set(len(self.runtime.sessions))
                if ended:
                    log.info("sessions_expired", count=ended)

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, let in-flight questions finish (up to the grace), release all."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        log.info("stopping", grace_s=grace)
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self.servicer.runtime = None
        if self.runtime is not None:
            self.runtime.queue.close(NotServingError("the server is shutting down"))
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self.engine is not None:
            await self.engine.stop()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.runtime is not None:
            await self.runtime.uploads.close()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http = None
        log.info("stopped")


async def serve(settings: LlmSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    await serving.run_until_signalled(LlmServer(settings))
