"""The question queue: priorities, bound, deadlines, compatible batches."""

from __future__ import annotations

import asyncio
import time

import pytest

from llm_service.admission import ServiceTimes
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
    gone, late = _job("gone"), _job("late", deadline_s=time.monotonic() + 0.02)
    for job in [gone, late, _job("ok")]:
        queue.put(job)
    gone.future.cancel()  # the client went away
    await asyncio.sleep(0.03)  # late's deadline passes in the queue
    assert [j.question for j in await queue.take_batch(8)] == ["ok"]
    assert sorted(dropped) == [("gone", "abandoned"), ("late", "expired")]


def _times() -> ServiceTimes:
    # a batch with an 8-token limit costs 0.1 + 8 * 0.05 = 0.5 s
    return ServiceTimes(prefill_s=0.1, step_s=0.05, used_share=1.0)


async def test_an_expired_question_is_refused_at_once():
    with pytest.raises(DeadlineExpiredError, match="had passed"):
        QuestionQueue(8).put(_job("late", deadline_s=time.monotonic() - 1))


async def test_admission_refuses_a_deadline_the_queue_ahead_cannot_meet():
    queue = QuestionQueue(8, times=_times(), max_batch=2)
    for i in range(3):
        queue.put(_job(f"b{i}", BATCH))
    now = time.monotonic()
    # BATCH behind b0..b2: batches (b0 b1) (b2 it) = 1.0 s
    with pytest.raises(DeadlineExpiredError, match="refused at admission"):
        queue.put(_job("batch", BATCH, deadline_s=now + 0.9))
    queue.put(_job("batch", BATCH, deadline_s=now + 1.1))
    # LIVE goes first: only its own batch, 0.5 s
    queue.put(_job("live", deadline_s=now + 0.6))
    # ... behind the running batch's remainder it no longer fits
    queue.times.busy_until_s = time.monotonic() + 0.3
    with pytest.raises(DeadlineExpiredError):
        queue.put(_job("live2", deadline_s=time.monotonic() + 0.6))
    assert len(queue) == 5


async def test_a_question_that_can_no_longer_make_it_is_dropped_when_taken():
    dropped: list[tuple[str, str]] = []
    queue = QuestionQueue(8, times=_times(), max_batch=2,
                          on_drop=lambda job, why: dropped.append((job.question, why)))
    tight = _job("tight", deadline_s=time.monotonic() + 0.55)  # admitted: 0.5 s needed
    queue.put(tight)
    for name in ("easy", "next"):
        queue.put(_job(name, deadline_s=time.monotonic() + 5))
    await asyncio.sleep(0.1)  # now 0.45 s are left for a 0.5 s batch
    # a batch of two: "tight" is dropped and the next question takes its place
    assert [j.question for j in await queue.take_batch(2)] == ["easy", "next"]
    assert dropped == [("tight", "unmeetable")]
    with pytest.raises(DeadlineExpiredError, match="before decoding"):
        await tight.future


async def test_a_live_question_displaces_the_batch_one_with_the_latest_deadline():
    dropped: list[tuple[str, str]] = []
    queue = QuestionQueue(3, on_drop=lambda job, why: dropped.append((job.question, why)))
    now = time.monotonic()
    soon, late, newest = (_job("soon", BATCH, deadline_s=now + 10),
                          _job("late", BATCH, deadline_s=now + 60),
                          _job("newest", BATCH, deadline_s=now + 30))
    for job in (soon, late, newest):
        queue.put(job)
    queue.put(_job("live"))  # full: "late" (latest deadline) makes room
    with pytest.raises(QueueFullError, match="displaced by higher-priority work"):
        await late.future
    with pytest.raises(QueueFullError, match="holds 3"):
        queue.put(_job("batch", BATCH))  # BATCH on a full queue: refused as before
    queue.put(_job("live2"))  # then "newest" (30 s) goes
    assert dropped == [("late", "displaced"), ("newest", "displaced")]
    queue.put(_job("live3"))  # then "soon", the last BATCH question
    with pytest.raises(QueueFullError, match="holds 3"):
        queue.put(_job("live4"))  # nothing below LIVE is left: refused
    assert [j.question for j in await queue.take_batch(8)] == ["live", "live2", "live3"]
    assert [q for q, _ in dropped] == ["late", "newest", "soon"]
    for job in (newest, soon):
        assert isinstance(job.future.exception(), QueueFullError)



async def test_the_continuous_worker_takes_questions_of_any_limit_without_waiting():
    dropped: list[tuple[str, str]] = []
    queue = QuestionQueue(8, times=_times(), max_batch=4,
                          on_drop=lambda job, why: dropped.append((job.question, why)))
    assert queue.take_now(4) == []  # nothing queued: no wait
    # b's 16 tokens take 0.1 + 16 * 0.05 = 0.9 s: admitted with 1 s left
    b = _job("b", tokens=16, deadline_s=time.monotonic() + 1.0)
    for job in [_job("a", tokens=8), b, _job("c", tokens=4), _job("d", BATCH)]:
        queue.put(job)
    await asyncio.sleep(0.2)  # 0.8 s left: b can no longer make it
    # limits 8 and 4 together (a static batch holds one limit); b dropped on the way
    assert [j.question for j in queue.take_now(2)] == ["a", "c"]
    assert dropped == [("b", "unmeetable")]
    assert [j.question for j in await queue.take(4)] == ["d"]
