"""The EncoderService servicer: thin, translating errors to status codes at the boundary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import structlog

from encoder_service.backends import EncoderBackend, ModelSpec
from encoder_service.batcher import DynamicBatcher
from encoder_service.errors import InvalidRequestError, NotServingError, QueueFullError
from encoder_service.metrics import EncoderMetrics
from encoder_service.validation import RequestLimits, features_message, prepare_request
from mochat.errors import MoChatError
from mochat.log import clip
from mochat.skeleton import layout_names
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc

log = structlog.get_logger("encoder_service")


@dataclass(frozen=True)
class Runtime:
    """Everything that exists once the model is loaded."""

    backend: EncoderBackend
    spec: ModelSpec
    batcher: DynamicBatcher
    limits: RequestLimits


_MESSAGE_CHARS = 1000  # a status message quotes client strings; gRPC caps its metadata


def status_for(err: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message of an error; never UNKNOWN."""
    if isinstance(err, QueueFullError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, clip(str(err), _MESSAGE_CHARS)
    if isinstance(err, NotServingError):
        return grpc.StatusCode.UNAVAILABLE, clip(str(err), _MESSAGE_CHARS)
    if isinstance(err, MoChatError) and isinstance(err, ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT, clip(str(err), _MESSAGE_CHARS)
    return grpc.StatusCode.INTERNAL, "internal error while encoding; see the server log"


class EncoderServicer(encoder_pb2_grpc.EncoderServiceServicer):
    def __init__(self, metrics: EncoderMetrics) -> None:
        self.metrics = metrics
        self.runtime: Runtime | None = None  # set by the server once the model is loaded

    def _ready(self) -> Runtime:
        if self.runtime is None:
            raise NotServingError("the encoder model is not loaded (yet)")
        return self.runtime

    async def _encode(self, request: encoder_pb2.EncodeRequest) -> encoder_pb2.EncodeResponse:
        runtime = self._ready()
        windows = prepare_request(request, runtime.spec, runtime.limits)
        features = await runtime.batcher.submit(windows)
        response = encoder_pb2.EncodeResponse(request_id=request.request_id)
        response.features.extend(features_message(w, f, runtime.spec)
                                 for w, f in zip(request.windows, features, strict=True))
        self.metrics.windows.inc(len(windows))
        first = request.windows[0]
        log.debug("encoded", request_id=clip(request.request_id), windows=len(windows),
                  stream_id=clip(first.stream_id), window_id=clip(first.window_id))
        return response

    def _fail(self, method: str, request: encoder_pb2.EncodeRequest,
              err: Exception) -> tuple[grpc.StatusCode, str]:
        code, message = status_for(err)
        fields = {"method": method, "request_id": clip(request.request_id), "code": code.name}
        if isinstance(err, InvalidRequestError):
            log.info("rejected", stream_id=clip(err.stream_id), window_id=clip(err.window_id),
                     reason=message, **fields)
        elif code is grpc.StatusCode.INTERNAL:
            log.error("encode_failed", exc_info=err, **fields)
        else:
            log.warning("refused", reason=message, **fields)
        return code, message

    def _count(self, method: str, code: grpc.StatusCode, started_s: float) -> None:
        self.metrics.requests.labels(method, code.name).inc()
        self.metrics.latency.labels(method).observe(time.perf_counter() - started_s)

    async def Encode(self, request: encoder_pb2.EncodeRequest,  # noqa: N802 - gRPC name
                     context: grpc.aio.ServicerContext) -> encoder_pb2.EncodeResponse:
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            return await self._encode(request)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as err:  # noqa: BLE001 - every error becomes a status code
            code, message = self._fail("Encode", request, err)
        finally:
            self._count("Encode", code, started)
        await context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")

    async def _stream_one(self, request: encoder_pb2.EncodeRequest,
                          out: asyncio.Queue[encoder_pb2.EncodeStreamResponse | None]) -> None:
        started, code = time.perf_counter(), grpc.StatusCode.OK
        reply = encoder_pb2.EncodeStreamResponse(request_id=request.request_id)
        try:
            reply.response.CopyFrom(await self._encode(request))
        except Exception as err:  # noqa: BLE001 - reported in the stream, which stays open
            code, message = self._fail("EncodeStream", request, err)
            reply.error.code, reply.error.message = code.value[0], message
        self._count("EncodeStream", code, started)
        await out.put(reply)

    async def EncodeStream(  # noqa: N802 - gRPC name
            self, request_iterator: AsyncIterator[encoder_pb2.EncodeRequest],
            context: grpc.aio.ServicerContext) -> AsyncIterator[encoder_pb2.EncodeStreamResponse]:
        """Each request is encoded as its own task; replies go out in completion order."""
        out: asyncio.Queue[encoder_pb2.EncodeStreamResponse | None] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()
        received = 0  # final once the reader has put the None sentinel

        async def read() -> None:
            nonlocal received
            try:
                async for request in request_iterator:
                    received += 1
                    task = asyncio.create_task(self._stream_one(request, out))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            finally:
                await out.put(None)  # end of requests (or the client went away)

        reader = asyncio.create_task(read())
        answered, reading = 0, True
        try:
            while reading or answered < received:
                reply = await out.get()
                if reply is None:
                    reading = False
                    continue
                answered += 1
                yield reply
        finally:
            reader.cancel()
            for task in list(tasks):
                task.cancel()

    async def GetModelInfo(self, request: encoder_pb2.GetModelInfoRequest,  # noqa: N802
                           context: grpc.aio.ServicerContext) -> encoder_pb2.ModelInfo:
        try:
            runtime = self._ready()
        except NotServingError as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
        spec = runtime.spec
        return encoder_pb2.ModelInfo(
            encoder=spec.encoder, layout=spec.layout.name, num_joints=spec.layout.num_joints,
            feature_dim=spec.feature_dim, max_frames=runtime.limits.max_frames,
            backend=runtime.backend.name, providers=list(runtime.backend.providers),
            max_batch=runtime.batcher.max_batch, fps=spec.fps, layouts=layout_names())
