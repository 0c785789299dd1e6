"""greedy_decode's `keep` hook: samples stop at the next step, and leave the batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from mochat.models import build_encoder, encoder_tiny
from mochat.models.chat_format import encode_chat
from mochat.models.generate import greedy_decode
from mochat.models.llm import load_llm
from mochat.models.mochat import MoChat, MoChatConfig
from mochat.pipeline import Conversation, MoChatPipeline
from mochat.skeleton import SMPL22

STEPS = 12


@pytest.fixture(scope="module")
def model(tiny_llm_dir) -> MoChat:
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    torch.manual_seed(0)
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    config = MoChatConfig(llm=str(tiny_llm_dir), pool_frames=2, regression_head=True)
    return MoChat(config, encoder, llm, tokenizer).eval()


def _batch(model: MoChat, frames=(16, 9, 12)) -> tuple:
    dim = model.encoder.feature_dim
    feats = torch.zeros(len(frames), max(frames), dim)
    fmask = torch.zeros(len(frames), max(frames), dtype=torch.bool)
    prompts = []
    for i, n in enumerate(frames):
        feats[i, :n], fmask[i, :n] = torch.randn(n, dim), True
        prompts.append(encode_chat(model.tokenizer, Conversation(feats[i, :n]).messages(
            f"When does person {i} wave?"), num_motion_tokens=-(-n // 2),
            generation_prompt=True).input_ids)
    return feats, fmask, prompts


@contextmanager
def forward_sizes(model: MoChat) -> Iterator[list[int]]:
    """The batch size of every LLM forward inside the block."""
    sizes: list[int] = []
    handle = model.llm.register_forward_pre_hook(
        lambda _m, _a, kw: sizes.append(int(kw["inputs_embeds"].shape[0])), with_kwargs=True)
    try:
        yield sizes
    finally:
        handle.remove()


def test_a_stopped_sample_leaves_the_batch_and_the_others_decode_on(model):
    feats, fmask, prompts = _batch(model)
    plain = greedy_decode(model, feats, fmask, prompts, max_new_tokens=STEPS, stop_ids=set())
    asked: list[tuple[int, int]] = []

    def keep(i: int) -> bool:  # sample 1 stops before its 4th token
        asked.append((i, len(asked)))
        return not (i == 1 and sum(1 for j, _ in asked if j == 1) > 3)

    with forward_sizes(model) as sizes:
        gen = greedy_decode(model, feats, fmask, prompts, max_new_tokens=STEPS,
                            stop_ids=set(), keep=keep)
    assert gen.stopped == [1]
    assert gen.token_ids[1] == plain.token_ids[1][:3]  # three tokens, then stopped
    # the others are unchanged by the row leaving (no stop ids: all run to the limit)
    assert gen.token_ids[0] == plain.token_ids[0] and gen.token_ids[2] == plain.token_ids[2]
    # prefill and 3 steps with 3 rows, then 2 rows: the stopped row costs nothing more
    # (every step feeds its token back, the last one too)
    assert sizes == [3, 3, 3, 3] + [2] * (STEPS - 3)


def test_the_decode_ends_when_every_sample_is_gone(model):
    feats, fmask, prompts = _batch(model)
    calls = {"n": 0}

    def keep(_i: int) -> bool:  # everyone leaves after two steps
        calls["n"] += 1
        return calls["n"] <= 2 * 3

    with forward_sizes(model) as sizes:
        gen = greedy_decode(model, feats, fmask, prompts, max_new_tokens=STEPS,
                            stop_ids=set(), keep=keep)
    assert sorted(gen.stopped) == [0, 1, 2]
    assert [len(t) for t in gen.token_ids] == [2, 2, 2]
    assert sizes == [3, 3, 3]  # prefill, two steps; no forward after the last row left


def test_kept_hidden_states_survive_rows_leaving(model):
    # the regression head's states of a sample that decodes on are those of the full batch
    feats, fmask, prompts = _batch(model)
    full = greedy_decode(model, feats, fmask, prompts, max_new_tokens=6, stop_ids=set(),
                         keep_hidden=True)
    cut = greedy_decode(model, feats, fmask, prompts, max_new_tokens=6, stop_ids=set(),
                        keep_hidden=True, keep=lambda i: i != 2)
    assert cut.stopped == [2] and cut.token_ids[2] == []
    for i in (0, 1):
        n = int(full.hidden_mask[i].sum())
        assert int(cut.hidden_mask[i].sum()) == n
        torch.testing.assert_close(cut.hidden[i, :n], full.hidden[i, :n], atol=1e-4,
                                   rtol=1e-4)
    # the stopped one keeps its prompt's states only
    assert int(cut.hidden_mask[2].sum()) == len(prompts[2])


def test_answer_batch_marks_stopped_answers(model):
    pipeline = MoChatPipeline(model, max_new_tokens=5)
    dim = model.encoder.feature_dim
    items = [(Conversation(torch.randn(12, dim)), "What happens?"),
             (Conversation(torch.randn(8, dim)), "When does it wave?")]
    answers = pipeline.answer_batch(items, keep=lambda i: i == 0)
    assert [a.stopped for a in answers] == [False, True]
    assert answers[1].num_tokens == 0 and answers[0].num_tokens <= 5
