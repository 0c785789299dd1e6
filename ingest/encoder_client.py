"""grpc.aio client of `EncoderService.Encode` that never loses a window.

Every failure except INVALID_ARGUMENT is retried with capped exponential backoff (the
encoder may be restarting, overloaded or slow; a refused token is retried too, so that a
rotated secret is picked up without losing windows, and logged as an error); an invalid
batch is split so that only the offending windows are given up, and those are reported as
None.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence

import grpc
import structlog

from ingest.codec import window_to_proto
from ingest.metrics import IngestMetrics
from ingest.windowing import Window
from mochat.errors import ConfigError
from mochat.security import ChannelSecurity
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc, frames_pb2

log = structlog.get_logger("ingest")
_MAX_BACKOFF_S = 5.0


class EncoderClient:
    def __init__(self, target: str, metrics: IngestMetrics, *, timeout_s: float = 10.0,
                 security: ChannelSecurity | None = None) -> None:
        self.target = target
        self.metrics = metrics
        self.timeout_s = timeout_s
        self._security = security or ChannelSecurity()
        self._metadata = self._security.metadata()  # the bearer token; read again if refused
        self._channel = self._security.channel(target, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self._stub = encoder_pb2_grpc.EncoderServiceStub(self._channel)
        self._ids = itertools.count()

    async def encode(self, windows: Sequence[Window]) -> list[frames_pb2.MotionFeatures | None]:
        """Features of each window in order; None where the encoder refused it as invalid."""
        request = encoder_pb2.EncodeRequest(windows=[window_to_proto(w) for w in windows],
                                            request_id=f"ingest-{next(self._ids)}")
        backoff = 0.05
        while True:
            try:
                with self.metrics.encode_seconds.time():
                    response = await self._stub.Encode(request, timeout=self.timeout_s,
                                                       wait_for_ready=True,
                                                       metadata=self._metadata)
                return list(response.features)
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code is grpc.StatusCode.INVALID_ARGUMENT:
                    return await self._split(windows, err)
                self.metrics.encode_retries.labels(code.name).inc()
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    log.error("encode_refused_token", code=code.name, detail=err.details(),
                              windows=len(windows), backoff_s=backoff)
                    with contextlib.suppress(ConfigError):  # a rotated secret mid-write
                        self._metadata = self._security.metadata()
                else:
                    log.warning("encode_retry", code=code.name, detail=err.details(),
                                windows=len(windows), backoff_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, _MAX_BACKOFF_S)

    async def _split(self, windows: Sequence[Window],
                     err: grpc.aio.AioRpcError) -> list[frames_pb2.MotionFeatures | None]:
        if len(windows) == 1:
            log.error("window_invalid", stream_id=windows[0].stream_id,
                      window_id=windows[0].window_id, detail=err.details())
            return [None]
        out: list[frames_pb2.MotionFeatures | None] = []
        for window in windows:
            out.extend(await self.encode([window]))
        return out

    async def close(self) -> None:
        await self._channel.close()
