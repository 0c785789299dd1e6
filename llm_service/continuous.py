"""The continuous model worker: iteration-level batching over `pipeline.decoder()`.

One loop on the event loop; each turn it takes queued questions for the rows it has free
(`QuestionQueue.take_now`, or waits with `take` when nothing runs) and hands them to the
model thread, which prefills them (through the prefix cache) and runs one decode step of
every running row. An answer is delivered the step it ends; a new question joins at the
next step instead of waiting for a batch. Between turns the event loop serves RPCs.

Semantics kept from the static worker (`engine.Engine`): admission by estimate (each
answer is observed; a queued question waits for a row, `ServiceTimes.row_ends_s`), the
check at take, a question whose client left or whose deadline passed stopped at the next
step, and isolation: a question whose prefill fails fails alone, and when a decode step
fails, each question that was in it is answered again alone by the static path.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from llm_service.engine import Engine
from llm_service.errors import NotServingError
from llm_service.queue import Job

log = structlog.get_logger("llm_service")


class ContinuousEngine(Engine):
    def __init__(self, *args: Any, prefix_cache: Any = None, model_tag: str = "",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decoder = self.pipeline.decoder(prefix_cache=prefix_cache, model_tag=model_tag)
        self._running: dict[int, Job] = {}  # sequence id -> job; changed in the model thread
        self._seen: dict[str, int] = {}  # prefix-cache lookups already counted
        self.times.row_ends_s = []

    async def stop(self) -> None:
        await super().stop()
        for job in self._running.values():
            job.fail(NotServingError("the server is shutting down"))
        self._running.clear()

    async def _run(self) -> None:
        while True:
            free = self.max_batch - len(self._running)
            if not self._running:
                jobs = await self.queue.take(free)
            else:
                jobs = self.queue.take_now(free)
            self.metrics.queue_depth.set(len(self.queue))
            await self._turn(jobs)

    async def _turn(self, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        for job in jobs:
            job.started_s = started
            self.metrics.queue_wait.observe(started - job.enqueued_s)
        try:
            failed, done = await loop.run_in_executor(self._executor, self._work, jobs, loop)
        except Exception as err:  # noqa: BLE001 - a decode step failed: every row in it
            await self._answer_alone(err)
            return
        if jobs:
            self.batches += 1
            self.metrics.batch_size.observe(len(self._running) + len(done))
        for job, error in failed:
            log.error("question_failed", exc_info=error, **job.context)
            job.fail(error)
        now = time.monotonic()
        for job, answer in done:
            self.times.observe(first_token_s=answer.first_token_s, total_s=now - job.started_s,
                               steps=answer.num_tokens, max_new_tokens=job.max_new_tokens,
                               cut_short=answer.stopped)
            self._deliver(job, answer, now)
        self.times.row_ends_s = [job.started_s + self.times.batch_s(job.max_new_tokens)
                                 for job in self._running.values()]
        self._count_prefixes()

    def _count_prefixes(self) -> None:
        cache = self.decoder.prefix_cache
        if cache is None:
            return
        for outcome, total in (("hit", cache.hits), ("miss", cache.misses)):
            counter = self.metrics.prefix_lookups.labels(outcome)
            seen = self._seen.get(outcome, 0)
            if total > seen:
                counter.inc(total - seen)
                self._seen[outcome] = total
        self.metrics.prefix_bytes.set(cache.bytes)

    def _work(self, jobs: list[Job], loop: asyncio.AbstractEventLoop
              ) -> tuple[list[tuple[Job, Exception]], list[tuple[Job, Any]]]:
        """In the model thread: prefill `jobs` (each alone; an error is that job's), then
        one step of every row -> (failed jobs, answered jobs)."""
        failed = []
        for job in jobs:
            def on_token(piece: str, job: Job = job) -> None:
                loop.call_soon_threadsafe(job.token, piece)

            try:
                seq_id = self.decoder.add(job.conversation, job.question,
                                          max_new_tokens=job.max_new_tokens, on_token=on_token)
            except Exception as err:  # noqa: BLE001 - one question's error is its own
                failed.append((job, err))
                continue
            self._running[seq_id] = job
        rows = len(self._running)
        for job in jobs:
            job.batch_size = rows
        done = [(self._running.pop(seq_id), answer)
                for seq_id, answer in self.decoder.step(self._keep)]
        return failed, done

    def _keep(self, seq_id: int) -> bool:  # model thread; reads a flag the loop sets
        job = self._running[seq_id]
        return not job.abandoned and not job.expired(time.monotonic())

    async def _answer_alone(self, err: Exception) -> None:
        """After a failed step: drop every row and answer each of their questions again,
        alone, by the static path (its error, if it fails alone too, is its own)."""
        jobs = [self._running.pop(seq_id) for seq_id in self.decoder.reset()
                if seq_id in self._running]
        jobs += list(self._running.values())
        self._running.clear()
        self.times.row_ends_s = []
        log.warning("step_failed_answering_alone", rows=len(jobs), error=type(err).__name__)
        for job in jobs:
            if job.first_token_s:  # its client has the failed try's pieces: no repeats
                job.on_text = None
            await self._answer_isolated([job])
