"""grpc.aio client of `EncoderService.Encode` that never loses a window.

Every failure except INVALID_ARGUMENT is retried with capped exponential backoff (the
encoder may be restarting, overloaded or slow; a refused token is retried too, so that a
rotated secret is picked up without losing windows, and logged as an error); an invalid
batch is split so that only the offending windows are given up, and those are reported as
None. A batch answered INTERNAL three times is split the same way (a window that trips an
encoder bug is given up, not retried for ever). Reconnects and retries wait at most
`reconnect_max_ms` (gRPC's own reconnect backoff grows to 120 s), so a restarted encoder is
used within about that time.
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
from mochat.log import clip
from mochat.security import ChannelSecurity
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc, frames_pb2

log = structlog.get_logger("ingest")
# An encoder that answers INTERNAL this many times to one batch is not restarting: the batch
# is split and a window that fails alone is given up (logged), so one window that trips a
# bug in the encoder cannot stall its partition for good.
_INTERNAL_TRIES = 3


class EncoderClient:
    def __init__(self, target: str, metrics: IngestMetrics, *, timeout_s: float = 10.0,
                 security: ChannelSecurity | None = None, reconnect_max_ms: int = 500) -> None:
        self.target = target
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.max_backoff_s = reconnect_max_ms / 1000.0
        self._security = security or ChannelSecurity()
        self._metadata = self._security.metadata()  # the bearer token; read again if refused
        self._channel = self._security.channel(target, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            # gRPC's default reconnect backoff starts at 1 s and grows 1.6x to 120 s: an
            # encoder back after a restart was found ~6 s late. Capped, it is found within
            # reconnect_max_ms.
            ("grpc.initial_reconnect_backoff_ms", min(100, reconnect_max_ms)),
            ("grpc.min_reconnect_backoff_ms", min(100, reconnect_max_ms)),
            ("grpc.max_reconnect_backoff_ms", reconnect_max_ms)])
        self._stub = encoder_pb2_grpc.EncoderServiceStub(self._channel)
        self._ids = itertools.count()

    async def encode(self, windows: Sequence[Window]) -> list[frames_pb2.MotionFeatures | None]:
        """Features of each window in order; None where the encoder refused it as invalid."""
        request = encoder_pb2.EncodeRequest(windows=[window_to_proto(w) for w in windows],
                                            request_id=f"ingest-{next(self._ids)}")
        backoff, internal = 0.05, 0
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
                internal += code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
                if internal >= _INTERNAL_TRIES:
                    return await self._split(windows, err)
                self.metrics.encode_retries.labels(code.name).inc()
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    log.error("encode_refused_token", code=code.name,
                              detail=clip(err.details() or ""),
                              windows=len(windows), backoff_s=backoff)
                    with contextlib.suppress(ConfigError):  # a rotated secret mid-write
                        self._metadata = self._security.metadata()
                else:
                    log.warning("encode_retry", code=code.name,
                                detail=clip(err.details() or ""),
                                windows=len(windows), backoff_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, self.max_backoff_s)

    async def _split(self, windows: Sequence[Window],
                     err: grpc.aio.AioRpcError) -> list[frames_pb2.MotionFeatures | None]:
        if len(windows) == 1:
            log.error("window_invalid", stream_id=clip(windows[0].stream_id),
                      window_id=clip(windows[0].window_id), code=err.code().name,
                      detail=clip(err.details() or ""))
            return [None]
        out: list[frames_pb2.MotionFeatures | None] = []
        for window in windows:
            out.extend(await self.encode([window]))
        return out

    async def close(self) -> None:
        await self._channel.close()
