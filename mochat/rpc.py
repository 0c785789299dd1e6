"""Undecodable requests answer INVALID_ARGUMENT, for every method of a grpc.aio server.

gRPC runs a method's request deserializer before any servicer code, and a deserializer
that raises (bytes that are no protobuf of the request's type) ends the call UNKNOWN, or
for a streaming request quietly ends the stream. `DecodeGuard`, a server interceptor,
wraps each handler's deserializer so that a failure becomes a marker instead, and the
method's behaviour answers the marker with INVALID_ARGUMENT before the servicer sees it.

Only grpc is needed, imported here (not by the core's other modules).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc


class _Undecodable:
    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as err:  # noqa: BLE001 - any parse failure is the client's
            return _Undecodable(f"{type(err).__name__}: {str(err)[:200]}")
    return decode


async def _refuse(context: grpc.aio.ServicerContext, method: str, bad: _Undecodable) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"{method}: the request is not a valid protobuf message of the "
                        f"method's type ({bad.detail})")


class DecodeGuard(grpc.aio.ServerInterceptor):
    """Server interceptor: an undecodable request (or stream item) -> INVALID_ARGUMENT.

    `on_refuse(method)` is called for each refusal (a metrics counter)."""

    def __init__(self, on_refuse: Callable[[str], None] | None = None) -> None:
        self.on_refuse = on_refuse

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails],
                                         Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method: str = details.method  # type: ignore[attr-defined]
        name = method.rsplit("/", 1)[-1]
        decode = _safe(handler.request_deserializer)
        out = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, name), decode, out)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_stream(handler.unary_stream, name), decode, out)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._stream_in(handler.stream_unary, name), decode, out)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream_stream(handler.stream_stream, name), decode, out)
        return handler

    def _refused(self, name: str) -> None:
        if self.on_refuse is not None:
            self.on_refuse(name)

    def _unary(self, inner: Any, name: str) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                self._refused(name)
                await _refuse(context, name, request)
            return await inner(request, context)
        return call

    def _unary_stream(self, inner: Any, name: str) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, _Undecodable):
                self._refused(name)
                await _refuse(context, name, request)
            async for item in _items(inner(request, context)):
                yield item
        return call

    def _checked(self, requests: AsyncIterator[Any], name: str,
                 context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def items() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, _Undecodable):
                    self._refused(name)
                    await _refuse(context, name, request)
                yield request
        return items()

    def _stream_in(self, inner: Any, name: str) -> Any:
        async def call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            return await inner(self._checked(requests, name, context), context)
        return call

    def _stream_stream(self, inner: Any, name: str) -> Any:
        async def call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[Any]:
            async for item in _items(inner(self._checked(requests, name, context), context)):
                yield item
        return call


async def _items(result: Any) -> AsyncIterator[Any]:
    """What a streaming behaviour yields; a coroutine that writes through the context
    (grpc.aio's other style) is awaited."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    else:
        await result
