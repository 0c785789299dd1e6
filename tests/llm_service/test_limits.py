"""Caps on loopback with the tiny model: prompt tokens per question, a session's history,
calls in flight per client, and client strings kept out of status messages and logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog

from llm_service.errors import InvalidRequestError
from llm_service.limits import PromptBudget
from llm_service.sessions import Session
from mochat.log import clip, processors
from mochat.pipeline import prompt_ids
from protos.mochat.v1 import llm_pb2
from tests.llm_service.conftest import GatedPipeline, running_server, stored_window

on_loop = pytest.mark.asyncio(loop_scope="session")  # grpc.aio keeps to one event loop
HUGE = "s" * (8 * 1024 * 1024)  # an 8 MB client string


def _add(server, stream: str = "s1", frames: int = 16) -> None:
    dim = server.pipeline.model.encoder.feature_dim
    server.runtime.store.add(stored_window(stream, 0, frames, dim))


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The services' JSON log (mochat.log.processors) into a buffer, at debug level."""
    out = io.StringIO()
    structlog.configure(processors=processors(),
                        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                        logger_factory=structlog.PrintLoggerFactory(out),
                        cache_logger_on_first_use=False)
    try:
        yield out
    finally:
        structlog.reset_defaults()


# -- tokens --------------------------------------------------------------------------------
def _budget(max_prompt_tokens: int = 20, context: int | None = 100) -> PromptBudget:
    # a word is a token; the template costs 3, a turn 1 beside its words
    return PromptBudget(lambda text: len(text.split()), pool_frames=4, context_tokens=context,
                        max_prompt_tokens=max_prompt_tokens, base_tokens=3, motion_extra=1,
                        turn_tokens=1)


def test_the_newest_turns_that_fit_are_kept():
    budget = _budget()
    session = Session("id", "s1", max_turns=8, created_us=0, last_used_s=0.0)
    for q, a in [("one two", "three"), ("four", "five six"), ("seven", "eight")]:
        session.record(q, a, budget.turn_cost(q, a))  # 4, 4, 3 tokens
    # 3 + 2 (question) + 2 + 1 (8 frames: 2 motion tokens and their line) = 8, + 4 + 4 + 3
    # = 19 <= 20: all three turns fit
    assert len(budget.history_for(session, "a b", 8, max_new_tokens=4)) == 3
    # a question of 4 words: 10 + 11 = 21 > 20: the oldest turn is left out
    assert budget.history_for(session, "a b c d", 8, 4) == session.history[1:]
    # the context (100) less max_new_tokens (86) is the tighter limit: 14 -> newest only
    assert budget.history_for(session, "a b", 8, 86) == session.history[2:]
    with pytest.raises(InvalidRequestError, match="over the limit of 20 prompt tokens"):
        budget.history_for(None, " ".join(["w"] * 16), 8, 4)  # 3 + 16 + 3 alone


def test_a_session_drops_its_oldest_turns_beyond_its_token_budget():
    session = Session("id", "s1", max_turns=8, created_us=0, last_used_s=0.0,
                      max_history_tokens=10)
    for i, tokens in enumerate([4, 4, 4, 9, 11]):
        session.record(f"q{i}", "a", tokens)
    # 4 + 4 <= 10, + 4 = 12 drops q0; 4 + 9 drops q1, q2; 9 + 11 drops q3; 11 alone > 10
    assert session.history == [] and session.history_tokens == []
    session.record("q5", "a", 3)
    assert [q for q, _ in session.history] == ["q5"] and session.turns == 6


class PromptLengths(GatedPipeline):
    """Records the exact prompt length of every question the model is asked."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.lengths: list[int] = []

    def enter(self, items: list, batch_size: int) -> None:
        self.lengths += [len(prompt_ids(self.model, conv, q)) for conv, q in items]
        super().enter(items, batch_size)


@on_loop
async def test_older_turns_are_left_out_so_every_prompt_fits_the_cap(pipeline: Any,
                                                                    tiny_checkpoint: Path):
    model = PromptLengths(pipeline)
    async with running_server(model, tiny_checkpoint, max_prompt_tokens=150,
                              max_history_tokens=10_000) as (server, stub):
        _add(server)
        session = await stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id="s1",
                                                                        max_turns=8))
        for i in range(6):
            await stub.Ask(llm_pb2.AskRequest(session_id=session.session_id,
                                              question=f"What does the person do, {i}?",
                                              max_new_tokens=12))
        with pytest.raises(grpc.aio.AioRpcError) as err:  # too long even without history
            await stub.Ask(llm_pb2.AskRequest(session_id=session.session_id,
                                              question="why " * 200, max_new_tokens=12))
    assert all(n <= 150 for n in model.lengths), model.lengths
    kept = [len(c.history) for c in model.calls]
    assert kept[:2] == [0, 1] and kept[-1] < 5  # the cap, not max_turns, cut the history
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "prompt tokens" in err.value.details()


@on_loop
async def test_max_new_tokens_must_fit_in_the_models_context(gated: GatedPipeline,
                                                             tiny_checkpoint: Path):
    async with running_server(gated, tiny_checkpoint, max_new_tokens_limit=1024) as (
            server, stub):
        _add(server)
        with pytest.raises(grpc.aio.AioRpcError) as err:  # the tiny model takes 1024
            await stub.Ask(llm_pb2.AskRequest(stream_id="s1", question="What happens?",
                                              max_new_tokens=1000))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "context 1024" in err.value.details() and not gated.calls


# -- calls in flight -----------------------------------------------------------------------
async def test_a_client_beyond_its_calls_in_flight_is_refused(gated: GatedPipeline,
                                                              tiny_checkpoint: Path):
    async with running_server(gated, tiny_checkpoint, max_inflight_per_client=2,
                              client_id_metadata="x-client-id", batching=False) as (
            server, stub):
        _add(server)
        gated.gate.clear()

        def ask(client: str) -> asyncio.Future:
            return asyncio.ensure_future(stub.Ask(
                llm_pb2.AskRequest(stream_id="s1", question="What happens?"),
                metadata=(("x-client-id", client),)))

        held = [ask("a"), ask("a")]
        await asyncio.to_thread(gated.entered.wait, 10)
        await asyncio.sleep(0.1)  # both of a's calls are in (one decoding, one queued)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ask("a")
        other = ask("b")  # another client is not held back by a
        gated.gate.set()
        await asyncio.gather(*held, other)
        assert server.inflight.inflight == {}  # every call gave its slot back
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "calls in flight" in err.value.details()
    assert server.metrics.value("mochat_llm_requests_total", method="Ask",
                                code="RESOURCE_EXHAUSTED") == 1


# -- client strings ------------------------------------------------------------------------
def test_clip_bounds_a_string_and_names_its_size():
    assert clip("short") == "short"
    assert clip("é" * 300, 4) == "éééé...(600 bytes)"  # 2 bytes a character


@on_loop
async def test_an_8mb_id_stays_out_of_status_messages_and_logs(gated: GatedPipeline,
                                                               tiny_checkpoint: Path,
                                                               json_log: io.StringIO):
    seq = llm_pb2.UploadedSequence(layout=HUGE, fps=20.0)
    calls = [lambda stub: stub.Ask(llm_pb2.AskRequest(stream_id=HUGE, question="Why?")),
             lambda stub: stub.Ask(llm_pb2.AskRequest(session_id=HUGE, question="Why?")),
             lambda stub: stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id=HUGE)),
             lambda stub: stub.EndSession(llm_pb2.EndSessionRequest(session_id=HUGE)),
             lambda stub: stub.CreateSession(llm_pb2.CreateSessionRequest(sequence=seq))]
    async with running_server(gated, tiny_checkpoint, log_level="debug") as (server, stub):
        errors = []
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(stub)
            errors.append(err.value)
    assert [e.code() for e in errors] == [grpc.StatusCode.INVALID_ARGUMENT] * 5
    assert all(len(e.details()) < 1200 for e in errors), [len(e.details()) for e in errors]
    log = json_log.getvalue()
    assert log.count("\n") > 5 and len(log) < 100_000  # 5 x 8 MB came in
    assert all(len(line) < 5000 for line in log.splitlines())


class Failing(GatedPipeline):
    """Fails with an error whose message quotes the question (as a library's might)."""

    def enter(self, items: list, batch_size: int) -> None:
        request_contents = [q for _, q in items]  # a local a traceback could show
        raise RuntimeError(f"could not answer {request_contents!r}")


@on_loop
async def test_a_traceback_holds_no_request_contents(pipeline: Any, tiny_checkpoint: Path,
                                                     json_log: io.StringIO):
    secret = "confidential " * 70  # 910 characters
    async with running_server(Failing(pipeline), tiny_checkpoint) as (server, stub):
        _add(server)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Ask(llm_pb2.AskRequest(stream_id="s1", question=secret))
    assert err.value.code() is grpc.StatusCode.INTERNAL and "confidential" not in \
        err.value.details()
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    failed = [line for line in lines if "exception" in line]
    assert [line["event"] for line in failed] == ["question_failed", "request_failed"]
    for line in failed:
        frames = [f for e in line["exception"] for f in e["frames"]]
        assert frames and not any("locals" in f for f in frames)
        assert line["exception"][0]["exc_value"].endswith("bytes)")  # clipped to 200 chars
        assert len(json.dumps(line)) < 20_000
