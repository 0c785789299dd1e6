"""Overload on loopback with the tiny model: admission by estimate, LIVE displacing BATCH,
questions whose caller left or whose deadline passed stopped mid-decode - under both
schedulers - and, continuous only, a short answer that does not wait for a long one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.mochat.v1 import llm_pb2
from tests.llm_service.conftest import GatedPipeline, running_server, stored_window

pytestmark = pytest.mark.asyncio(loop_scope="session")
LONG = 250  # tokens: the tiny model rarely stops on its own, so it decodes to the limit


class Recording(GatedPipeline):
    """Records the answers the model returned (by question), and slows every decode step
    by `step_s` (in the model thread, through the per-step `keep` hook)."""

    def __init__(self, inner: Any, step_s: float = 0.0) -> None:
        super().__init__(inner)
        self.step_s = step_s
        self.answers: list[Any] = []
        self.by_question: dict[str, Any] = {}

    def wrap_keep(self, keep: Any) -> Any:
        def slow_keep(i: int) -> bool:
            time.sleep(self.step_s)
            return keep is None or keep(i)
        return slow_keep

    def answered(self, items: list, answers: list) -> None:
        self.answers.extend(answers)
        self.by_question.update((q, a) for (_, q), a in zip(items, answers, strict=True))


@pytest.fixture(params=["continuous", "static"])
def scheduler(request) -> str:
    return request.param


def _add(server, stream: str = "s1", frames: int = 16) -> None:
    dim = server.pipeline.model.encoder.feature_dim
    server.runtime.store.add(stored_window(stream, 0, frames, dim))


def _ask(stub, question: str, *, timeout: float | None = None, tokens: int = 0,
         priority: int = llm_pb2.PRIORITY_LIVE) -> asyncio.Future:
    return asyncio.ensure_future(stub.Ask(llm_pb2.AskRequest(
        stream_id="s1", question=question, max_new_tokens=tokens, priority=priority),
        timeout=timeout))


async def _until(predicate, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_a_question_whose_deadline_cannot_be_met_is_refused_at_once(
        gated: GatedPipeline, tiny_checkpoint: Path, scheduler: str):
    async with running_server(gated, tiny_checkpoint, scheduler=scheduler) as (server, stub):
        _add(server)
        await _ask(stub, "warm up")  # the first batch gives the estimates
        times = server.engine.times
        assert times.known
        times.prefill_s, times.step_s, times.used_share = 0.5, 0.25, 1.0  # 8 tokens: 2.5 s
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _ask(stub, "too slow", timeout=2.0, tokens=8)
        refused_s = time.monotonic() - started
        assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert "refused at admission" in err.value.details()
        assert refused_s < 1.0  # at once, not when the deadline passed
        times.step_s = 0.01  # 8 tokens: 0.58 s, within 2 s
        await _ask(stub, "fast enough", timeout=2.0, tokens=8)
    assert gated.questions() == ["warm up", "fast enough"]  # the refused one never ran


async def test_a_live_question_displaces_a_queued_batch_one(gated: GatedPipeline,
                                                            tiny_checkpoint: Path,
                                                            scheduler: str):
    async with running_server(gated, tiny_checkpoint, max_queue=2, batching=False,
                              scheduler=scheduler) as (server, stub):
        _add(server)
        gated.gate.clear()
        first = _ask(stub, "first")
        await asyncio.to_thread(gated.entered.wait, 10)
        batch = [_ask(stub, f"b{i}", priority=llm_pb2.PRIORITY_BATCH) for i in range(2)]
        await _until(lambda: len(server.runtime.queue) == 2)
        live = _ask(stub, "live")  # the queue is full of BATCH work: b1 (newest) goes
        with pytest.raises(grpc.aio.AioRpcError) as displaced:
            await batch[1]
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # BATCH on a full queue
            await _ask(stub, "b2", priority=llm_pb2.PRIORITY_BATCH)
        gated.gate.set()
        await asyncio.gather(first, live, batch[0])
    assert displaced.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "displaced by higher-priority work" in displaced.value.details()
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert gated.questions() == ["first", "live", "b0"]
    assert server.metrics.value("mochat_llm_questions_total", outcome="displaced") == 1


async def _behind_a_first(server, stub, recording: Recording, asks) -> list:
    """Start `asks` (callables -> call) while a first question holds the model, so that
    they share the next batch; -> their calls."""
    _add(server)
    recording.gate.clear()
    first = _ask(stub, "first", tokens=4)
    await asyncio.to_thread(recording.entered.wait, 10)
    calls = [ask() for ask in asks]
    await _until(lambda: len(server.runtime.queue) == len(asks))
    recording.gate.set()
    await first
    return calls


async def test_a_cancelled_question_stops_being_decoded_beside_one_that_goes_on(
        pipeline: Any, tiny_checkpoint: Path, scheduler: str):
    recording = Recording(pipeline, step_s=0.004)  # 250 steps: >= 1 s
    async with running_server(recording, tiny_checkpoint, max_batch=8,
                              scheduler=scheduler) as (server, stub):
        leaves, stays = await _behind_a_first(server, stub, recording, [
            lambda: stub.AskStream(llm_pb2.AskRequest(stream_id="s1", question="cancel me",
                                                      max_new_tokens=LONG)),
            lambda: _ask(stub, "stay", tokens=LONG)])
        assert (await leaves.read()).text_delta is not None  # streaming has begun
        leaves.cancel()  # the client leaves mid-decode
        answer = await stays
    cancelled, kept = recording.by_question["cancel me"], recording.by_question["stay"]
    assert cancelled.stopped and cancelled.num_tokens < LONG // 2
    assert not kept.stopped and answer.latency.generated_tokens == kept.num_tokens == LONG
    assert server.metrics.value("mochat_llm_questions_total", outcome="stopped") == 1


async def test_a_batch_whose_deadlines_all_passed_stops_decoding(pipeline: Any,
                                                                 tiny_checkpoint: Path,
                                                                 scheduler: str):
    recording = Recording(pipeline, step_s=0.004)
    # admission off: the estimate would (rightly) drop these before decoding
    async with running_server(recording, tiny_checkpoint, max_batch=8, admission=False,
                              scheduler=scheduler) as (server, stub):
        calls = await _behind_a_first(server, stub, recording, [
            lambda i=i: _ask(stub, f"q{i}", timeout=0.8, tokens=LONG) for i in range(2)])
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        await _until(lambda: len(recording.answers) == 3)
    assert [a.stopped for a in recording.answers] == [False, True, True]
    # 0.8 s at >= 4 ms a step: well under the 250 tokens (>= 1 s) the limit allows
    assert all(a.num_tokens < LONG * 0.8 for a in recording.answers[1:])


async def test_a_short_answer_leaves_while_a_long_one_decodes(pipeline: Any,
                                                              tiny_checkpoint: Path):
    recording = Recording(pipeline, step_s=0.004)  # 250 steps: >= 1 s
    async with running_server(recording, tiny_checkpoint, max_batch=8) as (server, stub):
        _add(server)
        long = _ask(stub, "long", tokens=LONG)
        await _until(lambda: len(recording.calls) == 1)  # "long" is decoding
        started = time.monotonic()
        short = await _ask(stub, "short", tokens=3)
        short_s = time.monotonic() - started
        assert not long.done()  # answered beside the long one, not after it
        answer = await long
    assert short.latency.batch_size == 2 and short.latency.generated_tokens <= 3
    assert short_s < 0.5 and answer.latency.generated_tokens == LONG
