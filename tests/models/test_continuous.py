"""Continuous batching and the prefix cache: the same answers as the static decode, rows
joining and leaving mid-decode, and a cached window's prefix never fed twice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from mochat.models import build_encoder, encoder_tiny
from mochat.models.continuous import ContinuousBatch
from mochat.models.generate import greedy_decode
from mochat.models.llm import load_llm
from mochat.models.mochat import MoChat, MoChatConfig
from mochat.models.prefix_cache import PrefixCache, PrefixEntry
from mochat.pipeline import Conversation, MoChatPipeline, prompt_ids
from mochat.skeleton import SMPL22

QUESTIONS = ["What does the person do?", "When does the person wave the left hand?",
             "Which hand?", "From which frame to which frame does the person jump twice?"]
FRAMES = (16, 9, 24, 12)


def _model(tiny_llm_dir, head: str) -> MoChat:
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    torch.manual_seed(0)
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    config = MoChatConfig(llm=str(tiny_llm_dir), pool_frames=2, regression_head=True,
                          head=head)
    return MoChat(config, encoder, llm, tokenizer).eval()


@pytest.fixture(scope="module", params=["pooled", "frames"])
def model(request, tiny_llm_dir) -> MoChat:
    # "pooled" reads the answer's states too, "frames" the prompt's only
    return _model(tiny_llm_dir, request.param)


def _conversations(model: MoChat) -> list[Conversation]:
    gen = torch.Generator().manual_seed(1)
    dim = model.encoder.feature_dim
    return [Conversation(torch.randn(n, dim, generator=gen)) for n in FRAMES]


@contextmanager
def fed_tokens(model: MoChat) -> Iterator[list[tuple[int, int]]]:
    """(rows, tokens) of every LLM forward inside the block."""
    shapes: list[tuple[int, int]] = []
    handle = model.llm.register_forward_pre_hook(
        lambda _m, _a, kw: shapes.append(tuple(kw["inputs_embeds"].shape[:2])),
        with_kwargs=True)
    try:
        yield shapes
    finally:
        handle.remove()


def _run(decoder, pending: list, *, join_every: int = 2) -> dict:
    """Add `pending` (conv, question, limit) two at a time, `join_every` steps apart, and
    step until every answer is back -> {seq_id: answer}."""
    answers: dict = {}
    ids = []
    steps = 0
    while pending or len(decoder):
        if pending and steps % join_every == 0:
            for conv, question, limit in pending[:2]:
                ids.append(decoder.add(conv, question, max_new_tokens=limit))
            pending = pending[2:]
        answers.update(decoder.step())
        steps += 1
    return {i: answers[i] for i in ids}


def test_continuous_answers_equal_the_static_batch(model):
    pipeline = MoChatPipeline(model, max_new_tokens=8)
    items = list(zip(_conversations(model), QUESTIONS, strict=True))
    static = pipeline.answer_batch(items)
    continuous = _run(pipeline.decoder(), [(c, q, 8) for c, q in items])
    assert [a.text for a in continuous.values()] == [a.text for a in static]
    assert [a.span for a in continuous.values()] == [a.span for a in static]
    assert [a.span is not None for a in static] == [False, True, False, True]


def test_rows_that_join_and_leave_mid_decode_keep_their_tokens(model):
    # limits 3, 12, 5, 12: rows leave at different steps, later ones join a running batch
    convs, limits = _conversations(model), [3, 12, 5, 12]
    prompts = [prompt_ids(model, c, q) for c, q in zip(convs, QUESTIONS, strict=True)]
    dim = model.encoder.feature_dim
    feats = torch.zeros(4, max(FRAMES), dim)
    fmask = torch.zeros(4, max(FRAMES), dtype=torch.bool)
    for i, c in enumerate(convs):
        feats[i, :FRAMES[i]], fmask[i, :FRAMES[i]] = c.features, True
    static = greedy_decode(model, feats, fmask, prompts, max_new_tokens=12, stop_ids=set())
    batch = ContinuousBatch(model, stop_ids=set())
    done: dict = {}
    for i in range(4):
        batch.add(convs[i].features, prompts[i], max_new_tokens=limits[i])
        done.update(batch.step())  # every join lands in a batch that is decoding
    while len(batch):
        done.update(batch.step())
    for i in range(4):
        assert done[i].token_ids[0] == static.token_ids[i][:limits[i]]


def test_keep_stops_one_row_and_the_others_decode_on(model):
    pipeline = MoChatPipeline(model, max_new_tokens=6)
    items = list(zip(_conversations(model), QUESTIONS, strict=True))[:3]
    static = pipeline.answer_batch(items)
    decoder = pipeline.decoder()
    for conv, question in items:
        decoder.add(conv, question)
    answers: dict = {}
    for steps in range(100):
        if not len(decoder):
            break
        answers.update(decoder.step(keep=lambda i, s=steps: not (i == 1 and s >= 2)))
    assert answers[1].stopped and answers[1].num_tokens == 2
    assert [answers[i].text for i in (0, 2)] == [static[0].text, static[2].text]


def test_a_second_question_on_a_cached_window_feeds_only_its_own_tokens(model):
    pipeline = MoChatPipeline(model, max_new_tokens=6)
    conv = _conversations(model)[2]  # 24 frames: 12 motion tokens
    cache = PrefixCache(64 * 2**20)
    cached, plain = pipeline.decoder(prefix_cache=cache), pipeline.decoder()
    first = _run(cached, [(conv, QUESTIONS[0], 6)])
    followup = conv.with_turns([(QUESTIONS[0], next(iter(first.values())).text)])
    asked = [(conv, QUESTIONS[1], 6), (followup, QUESTIONS[3], 6)]
    with fed_tokens(model) as shapes:
        answers = _run(cached, list(asked), join_every=1)
    prefix = max(i for i, t in enumerate(prompt_ids(model, conv, QUESTIONS[1]))
                 if t == model.skeleton_id) + 1
    full = [len(prompt_ids(model, c, q)) for c, q, _ in asked]
    prefills = [n for rows, n in shapes if n > 1]  # decode steps feed one token a row
    assert prefills == [n - prefix for n in full]  # the question (and turn) only
    assert cache.hits == 2 and cache.misses == 1 and len(cache) == 1
    uncached = _run(plain, list(asked), join_every=1)
    assert [(a.text, a.span) for a in answers.values()] == \
        [(a.text, a.span) for a in uncached.values()]


def test_the_prefix_cache_is_an_lru_within_its_byte_budget():
    def entry(tokens: int) -> PrefixEntry:  # 2 layers of (1, 1, tokens, 4) K and V
        kv = tuple(torch.zeros(1, 1, tokens, 4) for _ in range(2))
        return PrefixEntry(kv, kv, None)

    assert entry(10).nbytes == 2 * 2 * 10 * 4 * 4  # K+V, 2 layers, 10 tokens, 4 floats
    cache = PrefixCache(max_bytes=2 * entry(10).nbytes)
    cache.put("a", entry(10))
    cache.put("b", entry(10))
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", entry(10))
    assert cache.get("b") is None and cache.get("a") is not None and cache.evictions == 1
    assert not cache.put("huge", entry(30)) and cache.bytes == 2 * entry(10).nbytes
