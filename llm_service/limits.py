"""Per-request token caps and per-client concurrency, checked before a question queues.

Tokens: a question's prompt (template, motion tokens, earlier turns, the question) must fit
in `max_prompt_tokens`, and prompt + `max_new_tokens` in the model's context. Earlier turns
are dropped oldest first until it fits; a question that does not fit even without history
is refused (INVALID_ARGUMENT: the same request can never be answered). Counting tokens on
the event loop must be cheap, so the chat template's own tokens are measured once at start
(`PromptBudget.measure`) and only the question and each new turn are tokenised.

Concurrency: `InflightLimit` is a server interceptor that lets one client have at most
`limit` LlmService calls in flight; beyond it RESOURCE_EXHAUSTED. A client is named by
`identify()` when given and it names one (an authenticated caller's token id), else by a
metadata value when the server is told which key carries it (a trusted proxy's client id,
or `authorization` for the bearer token; hashed, so a token never reaches a log), else by
its peer host - all connections of one host count together.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from llm_service.errors import InvalidRequestError
from llm_service.sessions import Session
from mochat.log import clip

log = structlog.get_logger("llm_service")
_MARGIN_TOKENS = 2  # a text tokenised inside the template may merge differently at its edges


@dataclass(frozen=True)
class PromptBudget:
    count: Callable[[str], int]  # tokens of a text on its own
    pool_frames: int  # model frames per motion token
    context_tokens: int | None  # the model's positions (prompt + answer)
    max_prompt_tokens: int
    base_tokens: int  # the template around a question alone
    motion_extra: int  # what a motion adds beyond its slots (the line after `<skeleton>`)
    turn_tokens: int  # the template around one earlier turn's question and answer

    @classmethod
    def measure(cls, model: Any, max_prompt_tokens: int) -> PromptBudget:
        """The template's token costs, from prompts of one-token texts (a MoChat model)."""
        import torch

        from mochat.pipeline import Conversation, context_tokens, prompt_ids

        tok = model.tokenizer

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False).input_ids)

        q, a = "x", "y"
        empty = Conversation(torch.zeros(0, 1))
        alone = len(prompt_ids(model, empty, q))
        with_turn = len(prompt_ids(model, empty.with_turns([(q, a)]), q))
        one_token = Conversation(torch.zeros(model.config.pool_frames, 1))
        with_motion = len(prompt_ids(model, one_token, q))
        return cls(count, model.config.pool_frames, context_tokens(model), max_prompt_tokens,
                   base_tokens=alone - count(q) + _MARGIN_TOKENS,
                   motion_extra=max(with_motion - alone - 1, 0),
                   turn_tokens=with_turn - alone - count(q) - count(a) + _MARGIN_TOKENS)

    def turn_cost(self, question: str, answer: str) -> int:
        """Prompt tokens an earlier turn adds to every later question of its session."""
        return self.count(question) + self.count(answer) + self.turn_tokens

    def limit(self, max_new_tokens: int) -> int:
        """The most prompt tokens a question with `max_new_tokens` may have."""
        if self.context_tokens is None:
            return self.max_prompt_tokens
        return min(self.max_prompt_tokens, self.context_tokens - max_new_tokens)

    def history_for(self, session: Session | None, question: str, frames: int,
                    max_new_tokens: int) -> list[tuple[str, str]]:
        """The newest turns of `session` that fit beside the question and its `frames`
        of motion; InvalidRequestError when the question does not fit alone."""
        motion = -(-frames // self.pool_frames) + (self.motion_extra if frames else 0)
        need = self.base_tokens + self.count(question) + motion
        limit = self.limit(max_new_tokens)
        if need > limit:
            raise InvalidRequestError(
                f"the question needs {need} prompt tokens ({motion} of them motion) and "
                f"{max_new_tokens} to answer: over the limit of {limit} prompt tokens (the "
                f"per-request cap {self.max_prompt_tokens}, the model's context "
                f"{self.context_tokens}); ask a shorter question, about fewer frames, or "
                "with a smaller max_new_tokens")
        if session is None:
            return []
        costs, drop = session.history_tokens, 0
        total = need + sum(costs)
        while total > limit:
            total -= costs[drop]
            drop += 1
        return session.history[drop:]


def client_of(context: grpc.aio.ServicerContext, metadata_key: str | None,
              identify: Callable[[], str | None] | None = None) -> str:
    """Who is calling: `identify()`'s name, else the (hashed) value of `metadata_key` when
    present, else the peer host without its port ('ipv4:10.0.0.7')."""
    named = identify() if identify is not None else None
    if named:
        return f"id:{clip(named, 100)}"
    if metadata_key:
        for key, value in context.invocation_metadata() or ():
            if key == metadata_key:
                raw = value if isinstance(value, bytes) else str(value).encode()
                return f"{metadata_key}:{hashlib.sha256(raw).hexdigest()[:16]}"
    peer = context.peer() or "unknown"
    if peer.startswith(("ipv4:", "ipv6:")):
        peer = peer.rsplit(":", 1)[0]
    return clip(peer, 100)


class InflightLimit(grpc.aio.ServerInterceptor):
    def __init__(self, limit: int, *, metadata_key: str | None = None,
                 identify: Callable[[], str | None] | None = None,
                 service: str = "mochat.v1.LlmService",
                 on_refuse: Callable[[str], None] | None = None) -> None:
        self.limit = limit  # 0: no limit
        self.metadata_key = metadata_key
        self.identify = identify  # runs inside the call (after an auth interceptor)
        self.prefix = f"/{service}/"
        self.on_refuse = on_refuse  # called with the method name
        self.inflight: dict[str, int] = {}

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails],
                                         Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method  # type: ignore[attr-defined]
        if handler is None or self.limit <= 0 or not method.startswith(self.prefix):
            return handler
        name = method[len(self.prefix):]
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, name),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, name),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler

    async def _enter(self, context: grpc.aio.ServicerContext, method: str) -> str:
        client = client_of(context, self.metadata_key, self.identify)
        held = self.inflight.get(client, 0)
        if held >= self.limit:
            if self.on_refuse is not None:
                self.on_refuse(method)
            log.info("refused", method=method, code="RESOURCE_EXHAUSTED", client=client,
                     reason="too many calls in flight")
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"client {client} has {held} calls in flight, its limit; "
                                "wait for one to finish")
        self.inflight[client] = held + 1
        return client

    def _leave(self, client: str) -> None:
        held = self.inflight.get(client, 1) - 1
        if held > 0:
            self.inflight[client] = held
        else:
            self.inflight.pop(client, None)

    def _unary(self, inner: Any, method: str) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            client = await self._enter(context, method)
            try:
                return await inner(request, context)
            finally:
                self._leave(client)
        return call

    def _stream(self, inner: Any, method: str) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            client = await self._enter(context, method)
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                self._leave(client)
        return call
