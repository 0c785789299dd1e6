"""The bounded question queue: priorities, deadlines, batches of compatible questions.

LIVE questions (a broadcast waiting on them) come before BATCH ones, first come first
served within a priority. A question whose deadline has passed, or whose client went away,
is dropped when the worker reaches it - never answered late. `take_batch` hands the worker
up to `max_batch` questions that can share one decode (same generation limit), after
waiting up to `batch_delay_s` for a batch to fill.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_service.errors import DeadlineExpiredError, NotServingError, QueueFullError

LIVE, BATCH = 1, 2  # mochat.v1.Priority values; lower is served first


@dataclass(eq=False)
class Job:
    """One queued question and the future its answer (or error) is delivered through."""

    question: str
    conversation: Any  # mochat.pipeline.Conversation (torch stays out of this module)
    max_new_tokens: int
    priority: int = LIVE
    deadline_s: float | None = None  # monotonic
    arrived_s: float = field(default_factory=time.monotonic)
    on_text: Callable[[str], None] | None = None  # streamed raw pieces, on the event loop
    context: dict[str, str] = field(default_factory=dict)  # ids for logs
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop()
                                        .create_future())
    enqueued_s: float = 0.0
    started_s: float = 0.0
    first_token_s: float = 0.0
    batch_size: int = 0

    def expired(self, now_s: float) -> bool:
        return self.deadline_s is not None and now_s >= self.deadline_s

    @property
    def abandoned(self) -> bool:
        """The caller stopped waiting (cancelled) or the job already has its outcome."""
        return self.future.done()

    def fail(self, err: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(err)

    def token(self, piece: str) -> None:
        """A generated piece arrived (called on the event loop)."""
        if not self.first_token_s:
            self.first_token_s = time.monotonic()
        if self.on_text is not None and not self.future.done():
            self.on_text(piece)


class QuestionQueue:
    def __init__(self, max_size: int, *, max_wait_s: float = float("inf"),
                 on_drop: Callable[[Job, str], None] | None = None) -> None:
        self.max_size = max_size
        self.max_wait_s = max_wait_s  # for questions without a deadline of their own
        self._heap: list[tuple[int, int, Job]] = []
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self._on_drop = on_drop
        self.closed = False

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, job: Job) -> None:
        if self.closed:
            raise NotServingError("the server is shutting down")
        if len(self._heap) >= self.max_size:
            self._purge(time.monotonic())
        if len(self._heap) >= self.max_size:
            raise QueueFullError(f"the question queue holds {len(self._heap)} questions, its "
                                 "limit; retry with backoff")
        job.enqueued_s = time.monotonic()
        heapq.heappush(self._heap, (job.priority, next(self._seq), job))
        self._ready.set()

    def _drop(self, job: Job, now_s: float) -> bool:
        """Resolve a job that must not run; True when it was dropped."""
        if job.abandoned:
            reason = "abandoned"
        elif job.expired(now_s) or now_s - job.enqueued_s > self.max_wait_s:
            reason = "expired"
            job.fail(DeadlineExpiredError(f"dropped after {now_s - job.arrived_s:.3f} s in the "
                                          "queue: the deadline passed"))
        else:
            return False
        if self._on_drop is not None:
            self._on_drop(job, reason)
        return True

    def _purge(self, now_s: float) -> None:
        kept = [entry for entry in self._heap if not self._drop(entry[2], now_s)]
        if len(kept) != len(self._heap):
            self._heap = kept
            heapq.heapify(self._heap)

    async def take_batch(self, max_batch: int, batch_delay_s: float = 0.0) -> list[Job]:
        """Wait for questions; -> 1..max_batch live jobs of the same generation limit."""
        while True:
            while not self._heap:
                self._ready.clear()
                await self._ready.wait()
            if max_batch > 1 and batch_delay_s > 0 and len(self._heap) < max_batch:
                await asyncio.sleep(batch_delay_s)
            self._purge(time.monotonic())
            if not self._heap:
                continue
            entries = sorted(self._heap)
            head = entries[0][2]
            taken = [e for e in entries if e[2].max_new_tokens == head.max_new_tokens]
            taken = taken[:max_batch]
            chosen = {id(e[2]) for e in taken}
            self._heap = [e for e in entries if id(e[2]) not in chosen]
            heapq.heapify(self._heap)
            return [e[2] for e in taken]

    def close(self, err: BaseException) -> None:
        """Refuse new questions and fail the queued ones."""
        self.closed = True
        for _, _, job in self._heap:
            job.fail(err)
        self._heap.clear()
        self._ready.set()
