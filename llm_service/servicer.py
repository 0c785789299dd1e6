"""The LlmService servicer: thin, translating errors to status codes at the boundary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
import torch

from llm_service.access import require_owner, require_role, require_stream
from llm_service.answers import DeltaRewriter, build_answer
from llm_service.engine import Result
from llm_service.errors import (
    DeadlineExpiredError,
    EncoderUnavailableError,
    InvalidRequestError,
    NotFoundError,
    NotServingError,
    PermissionDeniedError,
    QueueFullError,
)
from llm_service.limits import PromptBudget
from llm_service.metrics import LlmMetrics
from llm_service.queue import Job, QuestionQueue
from llm_service.sessions import Session, SessionStore
from llm_service.store import FeatureStore, MotionView, check_range, frames_between
from llm_service.uploads import UploadEncoder, check_upload
from llm_service.validation import AskLimits, AskSpec, check_ask, check_id
from mochat.errors import MoChatError, UnknownLayoutError
from mochat.log import clip
from mochat.pipeline import Conversation
from mochat.skeleton import SkeletonLayout
from protos.mochat.v1 import llm_pb2, llm_pb2_grpc

log = structlog.get_logger("llm_service")
MESSAGE_CHARS = 1000  # a status message: server words around clipped client strings


@dataclass(frozen=True)
class Runtime:
    """Everything that exists once the model is loaded."""

    store: FeatureStore
    sessions: SessionStore
    queue: QuestionQueue
    uploads: UploadEncoder
    limits: AskLimits
    layout: SkeletonLayout
    max_frames: int  # per question: the model's and encoder's limit
    max_upload_bytes: int
    prompts: PromptBudget | None = None  # token caps; None: the model's own limits only


def status_for(err: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message of an error; never UNKNOWN."""
    codes = ((InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
             (NotFoundError, grpc.StatusCode.NOT_FOUND),
             (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
             (QueueFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
             (DeadlineExpiredError, grpc.StatusCode.DEADLINE_EXCEEDED),
             (NotServingError, grpc.StatusCode.UNAVAILABLE),
             (EncoderUnavailableError, grpc.StatusCode.UNAVAILABLE),
             (UnknownLayoutError, grpc.StatusCode.INVALID_ARGUMENT))
    for kind, code in codes:
        if isinstance(err, kind):
            return code, clip(str(err), MESSAGE_CHARS)
    if isinstance(err, MoChatError) and isinstance(err, ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT, clip(str(err), MESSAGE_CHARS)
    return grpc.StatusCode.INTERNAL, "internal error while answering; see the server log"


def _ids(request: Any) -> dict[str, str]:
    """The session_id / stream_id a request names (for logs), clipped."""
    return {name: clip(value) for name in ("session_id", "stream_id")
            if (value := getattr(request, name, ""))}


class LlmServicer(llm_pb2_grpc.LlmServiceServicer):
    def __init__(self, metrics: LlmMetrics) -> None:
        self.metrics = metrics
        self.runtime: Runtime | None = None  # set by the server once the model is loaded

    def _ready(self) -> Runtime:
        if self.runtime is None:
            raise NotServingError("the model is not loaded (yet)")
        return self.runtime

    # -- boundary ------------------------------------------------------------------------
    async def _call(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                    work: Any) -> Any:
        """Await `work`; any error becomes a status code (logged), counted by method. The
        request's session/stream ids are bound to every log line of the call."""
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            with structlog.contextvars.bound_contextvars(**_ids(request)):
                return await work
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as err:  # noqa: BLE001 - every error becomes a status code
            with structlog.contextvars.bound_contextvars(**_ids(request)):
                code, message = self._fail(method, err)
        finally:
            self.metrics.requests.labels(method, code.name).inc()
            log.debug("rpc", method=method, code=code.name,
                      ms=round(1000 * (time.perf_counter() - started), 1))
        await context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")

    def _fail(self, method: str, err: Exception) -> tuple[grpc.StatusCode, str]:
        code, message = status_for(err)
        if code is grpc.StatusCode.INTERNAL:
            log.error("request_failed", method=method, exc_info=err)
        else:
            log.info("refused", method=method, code=code.name, reason=message)
        return code, message

    # -- sessions ------------------------------------------------------------------------
    async def CreateSession(self, request: llm_pb2.CreateSessionRequest,  # noqa: N802
                            context: grpc.aio.ServicerContext) -> llm_pb2.Session:
        return await self._call("CreateSession", request, context, self._create(request))

    async def _create(self, request: llm_pb2.CreateSessionRequest) -> llm_pb2.Session:
        rt = self._ready()
        source = request.WhichOneof("source")
        if source is None or (source == "stream_id" and not request.stream_id):
            raise InvalidRequestError("name a stream_id or upload a sequence")
        uploaded = None
        if source == "stream_id":
            stream_id = check_id("stream_id", request.stream_id, rt.limits.max_id_chars)
            owner = require_stream(stream_id).token_id
            if not rt.store.has_stream(stream_id):
                raise NotFoundError(f"stream {clip(stream_id)!r} has no features in the store")
        else:
            owner = require_role("upload", "uploading a sequence").token_id
            name, joints = check_upload(request.sequence, max_bytes=rt.max_upload_bytes)
            uploaded = await rt.uploads.encode(name, joints, request.sequence)
            stream_id = name
        session = rt.sessions.create(stream_id, max_turns=request.max_turns, uploaded=uploaded,
                                     owner=owner)
        self.metrics.sessions.set(len(rt.sessions))
        log.info("session_created", session_id=session.session_id, stream_id=clip(stream_id),
                 uploaded=uploaded is not None, frames=uploaded and uploaded.num_frames)
        return llm_pb2.Session(session_id=session.session_id, stream_id=stream_id,
                               uploaded=uploaded is not None, created_time_us=session.created_us,
                               idle_timeout_s=int(rt.sessions.idle_timeout_s),
                               max_turns=session.max_turns)

    async def EndSession(self, request: llm_pb2.EndSessionRequest,  # noqa: N802
                         context: grpc.aio.ServicerContext) -> llm_pb2.EndSessionResponse:
        return await self._call("EndSession", request, context, self._end(request))

    async def _end(self, request: llm_pb2.EndSessionRequest) -> llm_pb2.EndSessionResponse:
        rt = self._ready()
        session_id = check_id("session_id", request.session_id, rt.limits.max_id_chars)
        require_owner(rt.sessions.get(session_id).owner, session_id)
        session = rt.sessions.end(session_id)
        self.metrics.sessions.set(len(rt.sessions))
        log.info("session_ended", session_id=session.session_id, turns=session.turns)
        return llm_pb2.EndSessionResponse(turns=session.turns)

    # -- questions -----------------------------------------------------------------------
    async def Ask(self, request: llm_pb2.AskRequest,  # noqa: N802 - gRPC name
                  context: grpc.aio.ServicerContext) -> llm_pb2.Answer:
        return await self._call("Ask", request, context, self._ask(request, context, None))

    async def AskStream(self, request: llm_pb2.AskRequest,  # noqa: N802 - gRPC name
                        context: grpc.aio.ServicerContext) -> AsyncIterator[llm_pb2.AnswerChunk]:
        """Text deltas as they are generated (frame numbers already absolute), then the
        complete Answer."""
        out: asyncio.Queue[str | llm_pb2.Answer | Exception] = asyncio.Queue()

        async def run() -> None:
            try:
                with structlog.contextvars.bound_contextvars(**_ids(request)):
                    out.put_nowait(await self._ask(request, context, out))
            except Exception as err:  # noqa: BLE001 - handed to the stream below
                out.put_nowait(err)

        task = asyncio.create_task(run())
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            while True:
                item = await out.get()
                if isinstance(item, str):
                    if item:
                        yield llm_pb2.AnswerChunk(text_delta=item)
                    continue
                if isinstance(item, llm_pb2.Answer):
                    yield llm_pb2.AnswerChunk(answer=item)
                    return
                with structlog.contextvars.bound_contextvars(**_ids(request)):
                    code, message = self._fail("AskStream", item)
                await context.abort(code, message)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            task.cancel()
            self.metrics.requests.labels("AskStream", code.name).inc()
            log.debug("rpc", method="AskStream", code=code.name,
                      ms=round(1000 * (time.perf_counter() - started), 1))

    async def _ask(self, request: llm_pb2.AskRequest, context: grpc.aio.ServicerContext,
                   stream: asyncio.Queue[Any] | None) -> llm_pb2.Answer:
        rt = self._ready()
        spec = check_ask(request, rt.limits)
        if request.WhichOneof("target") == "stream_id":
            require_stream(request.stream_id)
            return await self._answer(rt, spec, None, request.stream_id, context, stream)
        session = rt.sessions.get(request.session_id)
        require_owner(session.owner, session.session_id)
        async with session.lock:  # one question at a time: a follow-up sees the turn before
            return await self._answer(rt, spec, session, session.stream_id, context, stream)

    async def _answer(self, rt: Runtime, spec: AskSpec, session: Session | None,
                      stream_id: str, context: grpc.aio.ServicerContext,
                      stream: asyncio.Queue[Any] | None) -> llm_pb2.Answer:
        view = self._view(rt, spec, session, stream_id)
        if rt.prompts is not None:  # the newest turns that fit the token caps
            history = rt.prompts.history_for(session, spec.question, view.features.shape[0],
                                             spec.max_new_tokens)
        else:
            history = list(session.history) if session is not None else []
        # names the window in prefix-cache keys: every question about it reuses its prefix
        motion_key = f"{view.stream_id}|{','.join(view.window_ids)}|{view.first_frame}" \
                     f"+{view.num_rows}"
        conversation = Conversation(torch.from_numpy(view.features), view.feature_fps, history,
                                    motion_key=motion_key)
        remaining = context.time_remaining()
        ids = {"stream_id": clip(stream_id),
               "session_id": session.session_id if session is not None else ""}
        job = Job(spec.question, conversation, spec.max_new_tokens, priority=spec.priority,
                  deadline_s=None if remaining is None else time.monotonic() + remaining,
                  context=ids)
        rewriter = None
        if stream is not None:
            rewriter = DeltaRewriter(view)
            job.on_text = lambda piece: stream.put_nowait(rewriter.push(piece))
        rt.queue.put(job)
        self.metrics.queue_depth.set(len(rt.queue))
        result: Result = await job.future
        answer = result.answer
        turn = 0
        if session is not None:
            cost = rt.prompts.turn_cost(spec.question, answer.text) if rt.prompts else 0
            turn = session.record(spec.question, answer.text, cost)
        if rewriter is not None and stream is not None:
            stream.put_nowait(rewriter.finish(answer.text))
        return build_answer(answer, view, result.timing, turn=turn,
                            session_id=ids["session_id"])

    @staticmethod
    def _view(rt: Runtime, spec: AskSpec, session: Session | None,
              stream_id: str) -> MotionView:
        """The frames a question is about: the named frame/time range (stitched from
        stored windows, or cut from the uploaded sequence), else the range the session's
        last question named, else the latest window (or the whole uploaded sequence)."""
        uploaded = session.uploaded if session is not None else None
        frames = spec.frames
        if spec.times_us is not None:
            views = [uploaded] if uploaded is not None else \
                [w.view for w in rt.store.windows(stream_id)]
            frames = frames_between(views, stream_id, *spec.times_us)
        if frames is None and session is not None:
            frames = session.frames
        if frames is None:
            return uploaded if uploaded is not None else rt.store.latest(stream_id)
        if uploaded is not None:
            check_range(*frames, rt.max_frames, fps=uploaded.fps,
                        feature_fps=uploaded.feature_fps)
            view = uploaded.crop(*frames)
        else:
            view = rt.store.select(stream_id, *frames, max_frames=rt.max_frames)
        if session is not None:
            session.frames = (int(frames[0]), int(frames[1]))
        return view
