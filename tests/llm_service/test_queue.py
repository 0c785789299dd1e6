"""The question queue: priorities, bound, deadlines, compatible batches."""

from __future__ import annotations

import asyncio
import time

import pytest

from llm_service.errors import DeadlineExpiredError, QueueFullError
from llm_service.queue import BATCH, LIVE, Job, QuestionQueue

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _job(question: str, priority: int = LIVE, tokens: int = 8, deadline_s: float | None = None
         ) -> Job:
    return Job(question, None, tokens, priority=priority, deadline_s=deadline_s)


async def test_live_questions_come_before_batch_ones():
    queue = QuestionQueue(8)
    for job in [_job("b1", BATCH), _job("l1"), _job("b2", BATCH), _job("l2")]:
        queue.put(job)
    taken = await queue.take_batch(3)
    assert [j.question for j in taken] == ["l1", "l2", "b1"]  # by priority, then arrival
    assert [j.question for j in await queue.take_batch(3)] == ["b2"]


async def test_a_full_queue_refuses_and_expired_questions_make_room():
    queue = QuestionQueue(2)
    stale = _job("stale", deadline_s=time.monotonic() + 0.05)
    queue.put(stale)
    queue.put(_job("fresh"))
    with pytest.raises(QueueFullError):
        queue.put(_job("third"))
    await asyncio.sleep(0.06)
    queue.put(_job("third"))  # the stale question was purged to make room
    with pytest.raises(DeadlineExpiredError):
        await stale.future
    assert [j.question for j in await queue.take_batch(8)] == ["fresh", "third"]


async def test_a_batch_holds_questions_of_one_generation_limit():
    queue = QuestionQueue(8)
    for job in [_job("a", tokens=8), _job("b", tokens=16), _job("c", tokens=8)]:
        queue.put(job)
    assert [j.question for j in await queue.take_batch(8)] == ["a", "c"]
    assert [j.question for j in await queue.take_batch(8)] == ["b"]


async def test_abandoned_and_expired_questions_are_never_handed_out():
    dropped: list[tuple[str, str]] = []
    queue = QuestionQueue(8, on_drop=lambda job, why: dropped.append((job.question, why)))
    gone, late = _job("gone"), _job("late", deadline_s=time.monotonic() - 1)
    for job in [gone, late, _job("ok")]:
        queue.put(job)
    gone.future.cancel()  # the client went away
    assert [j.question for j in await queue.take_batch(8)] == ["ok"]
    assert sorted(dropped) == [("gone", "abandoned"), ("late", "expired")]
