"""The bounded question queue: priorities, deadlines, batches of compatible questions.

LIVE questions (a broadcast waiting on them) come before BATCH ones, first come first
served within a priority. A question whose deadline has passed, or whose client went away,
is dropped when the worker reaches it - never answered late. `take_batch` hands the static
worker up to `max_batch` questions that can share one decode (same generation limit), after
waiting up to `batch_delay_s` for a batch to fill; `take` and `take_now` hand the
continuous worker questions of any limits for the rows it has free.

Admission (with `times`, the worker's measured service times): a question whose deadline
the estimate says cannot be met - the running batch's remainder, the batches of the
questions ahead of it, then its own - is refused at `put` with DeadlineExpiredError
(DEADLINE_EXCEEDED: what the client would get by waiting, only at once; a longer deadline,
not a retry, helps), and checked again when its batch is taken: one that can no longer make
it (its batch's estimate plus the usual spread) is dropped before it is decoded. Questions
without a deadline are admitted (the queue bound and `max_wait_s` hold them).

When the queue is full, a question displaces the queued question of the lowest priority
below its own - the one with the latest deadline, the newest among equals - which fails
with QueueFullError (RESOURCE_EXHAUSTED); a question with nothing below it is refused.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_service.admission import ServiceTimes
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
                 on_drop: Callable[[Job, str], None] | None = None,
                 times: ServiceTimes | None = None, max_batch: int = 1) -> None:
        self.max_size = max_size
        self.max_wait_s = max_wait_s  # for questions without a deadline of their own
        self.times = times  # None: no admission by estimate
        self.max_batch = max_batch  # how the worker takes questions (for estimates)
        self._heap: list[tuple[int, int, Job]] = []
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self._on_drop = on_drop
        self.closed = False

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, job: Job) -> None:
        """Queue `job`, or raise: NotServingError (closed), DeadlineExpiredError (its
        deadline cannot be met), QueueFullError (full of questions of its priority or
        above)."""
        if self.closed:
            raise NotServingError("the server is shutting down")
        now = time.monotonic()
        self._admit(job, now)
        if len(self._heap) >= self.max_size:
            self._purge(now)
        if len(self._heap) >= self.max_size and not self._displace(job):
            raise QueueFullError(f"the question queue holds {len(self._heap)} questions, its "
                                 "limit; retry with backoff")
        job.enqueued_s = now
        heapq.heappush(self._heap, (job.priority, next(self._seq), job))
        self._ready.set()

    def estimate_s(self, job: Job, now_s: float) -> float:
        """Expected seconds from `now_s` until `job`, queued now, is answered."""
        if self.times is None:
            return 0.0
        ahead = [e[2].max_new_tokens for e in sorted(self._heap)
                 if e[0] <= job.priority and not e[2].abandoned]
        return self.times.queue_s([*ahead, job.max_new_tokens], self.max_batch, now_s)

    def _admit(self, job: Job, now_s: float) -> None:
        if job.deadline_s is None:
            return
        left = job.deadline_s - now_s
        if left <= 0:
            raise DeadlineExpiredError("the deadline had passed when the question arrived")
        if self.times is None or not self.times.known:
            return
        need = self.estimate_s(job, now_s)
        if need > left:
            raise DeadlineExpiredError(
                f"refused at admission: the answer is estimated {need:.2f} s away (the "
                f"running batch and the questions ahead, then its own batch), {left:.2f} s "
                "are left before the deadline; ask with a longer deadline or a smaller "
                "max_new_tokens")

    def _displace(self, job: Job) -> bool:
        """Make room for `job` by failing the queued question of the lowest priority below
        its own with the latest deadline (the newest among equals); False: none."""
        below = [e for e in self._heap if e[0] > job.priority]
        if not below:
            return False
        victim = max(below, key=lambda e: (e[0], _deadline_key(e[2]), e[1]))
        self._heap.remove(victim)
        heapq.heapify(self._heap)
        victim[2].fail(QueueFullError("displaced by higher-priority work: the queue was full "
                                      "when a more urgent question arrived; retry with "
                                      "backoff"))
        if self._on_drop is not None:
            self._on_drop(victim[2], "displaced")
        return True

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
        """Wait for questions; -> 1..max_batch live jobs of the same generation limit, each
        still expected to be answered before its deadline (one that is not is dropped, and
        the next compatible question takes its place)."""
        while True:
            while not self._heap:
                self._ready.clear()
                await self._ready.wait()
            if max_batch > 1 and batch_delay_s > 0 and len(self._heap) < max_batch:
                await asyncio.sleep(batch_delay_s)
            taken = self._select(max_batch, same_limit=True)
            if taken:
                return taken

    async def take(self, max_jobs: int) -> list[Job]:
        """Wait for questions; -> 1..max_jobs live jobs of any generation limits (the
        continuous scheduler's: each decodes on its own), checked as `take_batch` does."""
        while True:
            while not self._heap:
                self._ready.clear()
                await self._ready.wait()
            taken = self._select(max_jobs, same_limit=False)
            if taken:
                return taken

    def take_now(self, max_jobs: int) -> list[Job]:
        """`take` without waiting: what is queued now, maybe nothing."""
        return self._select(max_jobs, same_limit=False) if self._heap and max_jobs > 0 else []

    def _select(self, max_jobs: int, *, same_limit: bool) -> list[Job]:
        """Take up to `max_jobs` jobs in priority order (with `same_limit`, only those of
        the first one's generation limit); a job whose answer can no longer be expected
        before its deadline is dropped on the way."""
        now = time.monotonic()
        self._purge(now)
        if not self._heap:
            return []
        entries = sorted(self._heap)
        limit = entries[0][2].max_new_tokens
        known = self.times is not None and self.times.known
        taken: list[Job] = []
        rest = []
        for entry in entries:
            job = entry[2]
            cost = self.times.sure_batch_s(job.max_new_tokens) if self.times is not None \
                else 0.0
            if len(taken) == max_jobs or (same_limit and job.max_new_tokens != limit):
                rest.append(entry)
            elif job.deadline_s is None or not known or now + cost <= job.deadline_s:
                taken.append(job)
            else:
                self._unmeetable(job, cost, now)
        self._heap = rest
        heapq.heapify(self._heap)
        return taken

    def _unmeetable(self, job: Job, cost_s: float, now_s: float) -> None:
        left = (job.deadline_s or now_s) - now_s
        job.fail(DeadlineExpiredError(f"dropped before decoding: its batch is estimated at "
                                      f"{cost_s:.2f} s, {left:.2f} s were left before the "
                                      "deadline"))
        if self._on_drop is not None:
            self._on_drop(job, "unmeetable")

    def close(self, err: BaseException) -> None:
        """Refuse new questions and fail the queued ones."""
        self.closed = True
        for _, _, job in self._heap:
            job.fail(err)
        self._heap.clear()
        self._ready.set()


def _deadline_key(job: Job) -> float:
    return float("inf") if job.deadline_s is None else job.deadline_s
