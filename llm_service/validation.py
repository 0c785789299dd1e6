"""Checks of AskRequest at the boundary: everything malformed -> InvalidRequestError."""

from __future__ import annotations

from dataclasses import dataclass

from llm_service.errors import InvalidRequestError
from llm_service.queue import BATCH, LIVE
from mochat.log import clip
from protos.mochat.v1 import llm_pb2


@dataclass(frozen=True)
class AskLimits:
    max_question_chars: int
    default_max_new_tokens: int
    max_new_tokens_limit: int
    max_id_chars: int = 256


@dataclass(frozen=True)
class AskSpec:
    """A checked question: what to ask, about which frames, how urgently."""

    question: str
    priority: int
    max_new_tokens: int
    frames: tuple[int, int] | None = None  # absolute, inclusive
    times_us: tuple[int, int] | None = None  # capture times, inclusive


def check_id(name: str, value: str, max_chars: int) -> str:
    """A client-named id, refused when empty or longer than `max_chars`."""
    if not value:
        raise InvalidRequestError(f"empty {name}")
    if len(value) > max_chars:
        raise InvalidRequestError(f"{name} {clip(value, 40)!r} is over the limit of "
                                  f"{max_chars} characters")
    return value


def check_ask(request: llm_pb2.AskRequest, limits: AskLimits) -> AskSpec:
    target = request.WhichOneof("target")
    if target is None:
        raise InvalidRequestError("name a session_id or a stream_id")
    check_id(target, getattr(request, target), limits.max_id_chars)
    question = request.question.strip()
    if not question:
        raise InvalidRequestError("empty question")
    if len(question) > limits.max_question_chars:
        raise InvalidRequestError(f"question of {len(question)} characters, over the limit of "
                                  f"{limits.max_question_chars}")
    if request.priority not in (llm_pb2.PRIORITY_UNSPECIFIED, LIVE, BATCH):
        raise InvalidRequestError(f"unknown priority {request.priority}; expected "
                                  "PRIORITY_LIVE or PRIORITY_BATCH")
    if request.max_new_tokens > limits.max_new_tokens_limit:
        raise InvalidRequestError(f"max_new_tokens {request.max_new_tokens} is over the "
                                  f"limit of {limits.max_new_tokens_limit}")
    frames = times = None
    selector = request.WhichOneof("window_selector")
    if selector == "frames":
        a, b = request.frames.first_frame, request.frames.last_frame
        if a < 0 or b < a:
            raise InvalidRequestError(f"bad frame range {a}..{b}: need 0 <= first_frame <= "
                                      "last_frame")
        frames = (a, b)
    elif selector == "times":
        a, b = request.times.start_time_us, request.times.end_time_us
        if a < 0 or b < a:
            raise InvalidRequestError(f"bad time range {a}..{b} us: need 0 <= start_time_us "
                                      "<= end_time_us")
        times = (a, b)
    return AskSpec(question, request.priority or LIVE,
                   request.max_new_tokens or limits.default_max_new_tokens, frames, times)
