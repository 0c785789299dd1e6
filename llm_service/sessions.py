"""Multi-turn sessions: bound to a live stream or to an uploaded sequence, with history.

A session keeps its last `max_turns` (question, answer) pairs in the model's own words, and
of those only the newest that fit in `max_history_tokens` (the oldest turns are dropped,
not the question refused: a long chat goes on with a shorter memory), and ends after
`idle_timeout_s` without a question. Questions of one session are answered one at
a time (its lock), so a follow-up always sees the turn before it. A session keeps the
frame range a question names (`frames`) for its later questions until one names another,
so a follow-up is about the same frames as the question before it; a session that never
named a range reads the stream's latest window (or the whole uploaded sequence) for every
question. The history travels with it either way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_service.errors import InvalidRequestError, NotFoundError, QueueFullError
from llm_service.store import MotionView
from mochat.log import clip


@dataclass(eq=False)
class Session:
    session_id: str
    stream_id: str
    max_turns: int
    created_us: int
    last_used_s: float  # monotonic
    uploaded: MotionView | None = None
    owner: str = ""  # the token id that opened it (mochat.auth); others may not use it
    history: list[tuple[str, str]] = field(default_factory=list)
    history_tokens: list[int] = field(default_factory=list)  # each turn's prompt tokens
    max_history_tokens: int | None = None  # None: turns alone bound the history
    turns: int = 0  # answered so far (history may hold fewer)
    frames: tuple[int, int] | None = None  # the range later questions are about, if named
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def record(self, question: str, answer: str, tokens: int = 0) -> int:
        """Append a turn of `tokens` prompt tokens, dropping the oldest beyond max_turns
        and max_history_tokens; returns its 0-based index."""
        self.history.append((question, answer))
        self.history_tokens.append(tokens)
        drop = max(len(self.history) - self.max_turns, 0)
        if self.max_history_tokens is not None:
            while drop < len(self.history) and \
                    sum(self.history_tokens[drop:]) > self.max_history_tokens:
                drop += 1
        del self.history[:drop], self.history_tokens[:drop]
        self.turns += 1
        return self.turns - 1


class SessionStore:
    def __init__(self, *, max_sessions: int, idle_timeout_s: float, default_max_turns: int,
                 max_turns_limit: int, max_history_tokens: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.max_history_tokens = max_history_tokens
        self.idle_timeout_s = idle_timeout_s
        self.default_max_turns = default_max_turns
        self.max_turns_limit = max_turns_limit
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, stream_id: str, *, max_turns: int = 0,
               uploaded: MotionView | None = None, owner: str = "") -> Session:
        if max_turns > self.max_turns_limit:
            raise InvalidRequestError(f"max_turns {max_turns} is over the limit of "
                                      f"{self.max_turns_limit}")
        self.reap()
        if len(self._sessions) >= self.max_sessions:
            raise QueueFullError(f"{len(self._sessions)} sessions are open, the limit; end "
                                 "one or retry later")
        session = Session(session_id=uuid.uuid4().hex, stream_id=stream_id,
                          max_turns=max_turns or self.default_max_turns,
                          created_us=time.time_ns() // 1000, last_used_s=self._clock(),
                          uploaded=uploaded, owner=owner,
                          max_history_tokens=self.max_history_tokens)
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The session, touched; NotFoundError when unknown or idle too long."""
        session = self._sessions.get(session_id)
        now = self._clock()
        if session is not None and now - session.last_used_s > self.idle_timeout_s:
            del self._sessions[session_id]
            raise NotFoundError(f"session {clip(session_id)!r} expired after "
                                f"{self.idle_timeout_s:g} s without a question")
        if session is None:
            raise NotFoundError(f"unknown session {clip(session_id)!r}")
        session.last_used_s = now
        return session

    def end(self, session_id: str) -> Session:
        session = self.get(session_id)
        del self._sessions[session_id]
        return session

    def reap(self) -> int:
        """End every idle session; returns how many ended."""
        now = self._clock()
        idle = [k for k, s in self._sessions.items()
                if now - s.last_used_s > self.idle_timeout_s and not s.lock.locked()]
        for key in idle:
            del self._sessions[key]
        return len(idle)
