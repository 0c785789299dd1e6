"""The static model worker (MOCHAT_LLM_SCHEDULER=static; `continuous.ContinuousEngine`,
the default, builds on it): batches from the question queue -> one `answer_batch` each,
every answer of a batch delivered when its longest one ends.

The model runs in a single dedicated thread, so the event loop keeps serving RPCs, reading
Kafka and streaming tokens while a batch decodes. Generated pieces cross back to the loop
with `call_soon_threadsafe` (in order, before the batch's completion). A question whose
client went away or whose deadline passed stops being decoded at the next step (its row
leaves the batch; a batch with no row left ends) and is never answered late. A batch that
fails is answered again one question at a time: one question's error never fails the
others. Every decoded batch updates the service-time estimates admission reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from llm_service.admission import ServiceTimes
from llm_service.answers import Timing
from llm_service.errors import DeadlineExpiredError
from llm_service.metrics import LlmMetrics
from llm_service.queue import Job, QuestionQueue

log = structlog.get_logger("llm_service")


def _worker_ended(task: asyncio.Task[None]) -> None:
    """The worker loop only ends when cancelled; anything else is a bug to shout about."""
    if not task.cancelled() and task.exception() is not None:
        log.error("worker_died", exc_info=task.exception())


@dataclass(frozen=True)
class Result:
    answer: Any  # mochat.pipeline.ChatAnswer
    timing: Timing


class Engine:
    def __init__(self, pipeline: Any, queue: QuestionQueue, metrics: LlmMetrics, *,
                 max_batch: int, batch_delay_s: float,
                 times: ServiceTimes | None = None) -> None:
        self.pipeline = pipeline  # MoChatPipeline, or anything with its answer_batch
        self.queue = queue
        self.times = times if times is not None else (queue.times or ServiceTimes())
        self.metrics = metrics
        self.max_batch = max_batch
        self.batch_delay_s = batch_delay_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mochat-model")
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="llm-engine")
        self._task.add_done_callback(_worker_ended)

    async def stop(self) -> None:
        """Cancel the worker (the running batch, if any, finishes in its thread)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def _run(self) -> None:
        while True:
            jobs = await self.queue.take_batch(self.max_batch, self.batch_delay_s)
            self.metrics.queue_depth.set(len(self.queue))
            await self._answer_isolated(jobs)

    async def _answer_isolated(self, jobs: list[Job]) -> None:
        """Answer a batch; when it fails, answer its questions one at a time, so that only
        a question that fails alone gets the error, never the others it was batched with.
        The worker survives either way."""
        try:
            await self._answer(jobs)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - one question's error is its own
            if len(jobs) == 1:
                log.error("question_failed", exc_info=err, **jobs[0].context)
                jobs[0].fail(err)
                return
            log.warning("batch_failed_answering_alone", batch_size=len(jobs),
                        error=type(err).__name__)
            for job in jobs:
                if job.first_token_s:  # its client has the failed try's pieces: no repeats
                    job.on_text = None
                await self._answer_isolated([job])

    def _generate(self, items: list[tuple[Any, str]], max_new_tokens: int,
                  on_token: Any, keep: Any) -> list[Any]:
        """In the model thread. The generation limit is the pipeline's attribute; only this
        thread touches it."""
        self.pipeline.max_new_tokens = max_new_tokens
        return list(self.pipeline.answer_batch(items, on_token=on_token, keep=keep))

    async def _answer(self, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        limit = jobs[0].max_new_tokens
        for job in jobs:
            job.started_s, job.batch_size = started, len(jobs)
            self.metrics.queue_wait.observe(started - job.enqueued_s)
        self.metrics.batch_size.observe(len(jobs))
        self.batches += 1

        def on_token(index: int, piece: str) -> None:  # model thread
            loop.call_soon_threadsafe(jobs[index].token, piece)

        def keep(index: int) -> bool:  # model thread; reads a flag the loop sets
            job = jobs[index]
            return not job.abandoned and not job.expired(time.monotonic())

        items = [(job.conversation, job.question) for job in jobs]
        self.times.busy_until_s = started + self.times.batch_s(limit)
        try:
            answers = await loop.run_in_executor(self._executor, self._generate, items,
                                                 limit, on_token, keep)
        finally:
            self.times.busy_until_s = 0.0
        done = time.monotonic()
        self.times.observe(first_token_s=min(a.first_token_s for a in answers),
                           total_s=done - started, max_new_tokens=limit,
                           steps=max(a.num_tokens for a in answers),
                           cut_short=any(getattr(a, "stopped", False) for a in answers))
        for job, answer in zip(jobs, answers, strict=True):
            self._deliver(job, answer, done)

    def _deliver(self, job: Job, answer: Any, done_s: float) -> None:
        stopped = getattr(answer, "stopped", False)  # its decode ended early
        if job.abandoned:
            self.metrics.questions.labels("stopped" if stopped else "abandoned").inc()
            log.info("question_abandoned", stopped=stopped, **job.context)
            return
        if stopped or job.expired(done_s):
            self.metrics.questions.labels("stopped" if stopped else "late").inc()
            late_ms = 0.0 if job.deadline_s is None else 1000 * (done_s - job.deadline_s)
            log.warning("question_late", late_ms=round(late_ms, 1), stopped=stopped,
                        **job.context)
            job.fail(DeadlineExpiredError("the deadline passed while the answer was generated"))
            return
        first = job.first_token_s or done_s
        timing = Timing(job.arrived_s, job.started_s, first, done_s, job.batch_size)
        m = self.metrics
        m.questions.labels("answered").inc()
        m.first_token.observe(first - job.arrived_s)
        m.answer_latency.observe(done_s - job.arrived_s)
        m.tokens.inc(answer.num_tokens)
        m.tokens_per_s.observe(answer.num_tokens / max(done_s - job.started_s, 1e-9))
        log.info("answered", batch_size=job.batch_size, tokens=answer.num_tokens,
                 queue_wait_ms=round(1000 * (job.started_s - job.enqueued_s), 1),
                 total_ms=round(1000 * (done_s - job.arrived_s), 1), **job.context)
        job.future.set_result(Result(answer, timing))
