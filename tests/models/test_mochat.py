import numpy as np
import pytest
import torch

from mochat.errors import DataFormatError
from mochat.models import build_encoder, encoder_tiny
from mochat.models.chat_format import (
    IGNORE_INDEX,
    encode_chat,
    parse_span,
    replace_span,
    to_messages,
)
from mochat.models.generate import greedy_decode
from mochat.models.layers import (
    RegressionHead,
    diou_loss,
    pool_time,
    splice_motion,
)
from mochat.models.llm import load_llm
from mochat.models.mochat import MoChat, MoChatConfig
from mochat.pipeline import Conversation, MoChatPipeline, asks_when
from mochat.skeleton import SMPL22
from mochat.synth import synthesize_motion
from training.lm_data import collate

QUESTION = "<skeleton>\nWhen does the person wave?"
ANSWER = "From frame 3 to frame 9."


def _model(tiny_llm_dir, **config) -> MoChat:
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    return MoChat(MoChatConfig(llm=str(tiny_llm_dir), **config), encoder, llm, tokenizer)


def _rows():
    return [{"motion_id": "a", "task": "temporal", "span": [3, 9],
             "conversations": [{"from": "human", "value": QUESTION},
                               {"from": "gpt", "value": ANSWER}]},
            {"motion_id": "b", "task": "basic", "span": None,
             "conversations": [{"from": "human", "value": "<skeleton>\nDescribe it."},
                               {"from": "gpt", "value": "a person claps."}]}]


def _features(dim: int) -> dict[str, torch.Tensor]:
    return {"a": torch.randn(16, dim), "b": torch.randn(12, dim)}


def test_splice_count_mismatch_raises():
    embeds = torch.zeros(1, 6, 4)
    slots = torch.tensor([[False, True, True, True, False, False]])
    tokens = torch.ones(1, 2, 4)
    with pytest.raises(ValueError, match=r"slots per sample \[3\] != motion tokens \[2\]"):
        splice_motion(embeds, slots, tokens, torch.ones(1, 2, dtype=torch.bool))
    out = splice_motion(embeds, slots, torch.ones(1, 3, 4), torch.ones(1, 3, dtype=torch.bool))
    assert out[0, 1:4].eq(1).all() and out[0, [0, 4, 5]].eq(0).all()


def test_pool_time_averages_real_frames_only():
    feats = torch.arange(5.0).reshape(1, 5, 1)  # frames 0..4
    mask = torch.tensor([[True, True, True, True, False]])
    pooled, pmask = pool_time(feats, mask, 2)
    assert pooled.flatten().tolist() == [0.5, 2.5, 0.0]  # (0+1)/2, (2+3)/2, all padding
    assert pmask.tolist() == [[True, True, False]]


def test_diou_is_zero_for_a_perfect_span_and_grows_with_distance():
    target = torch.tensor([[0.2, 0.4]])
    assert float(diou_loss(target, target)) == pytest.approx(0.0)
    near = float(diou_loss(torch.tensor([[0.25, 0.45]]), target))
    far = float(diou_loss(torch.tensor([[0.7, 0.9]]), target))
    # far: no overlap (IoU 0) + centre distance 0.5 over hull 0.7 squared -> 1.51
    assert 0 < near < far == pytest.approx(1 + (0.5 / 0.7) ** 2)


def test_head_learns_spans_from_inputs_with_llm_sized_norms():
    """The head fits per-sample spans from inputs shaped like the real ones (large shared
    offsets, norms of ~50). The saturation the input normalisation fixed showed only on
    real SmolLM2 states (see BENCHMARKS.md); this checks the head still learns at all."""
    gen = torch.Generator().manual_seed(0)
    b, n, length, dim = 64, 24, 20, 64
    starts = torch.randint(0, n // 2, (b,), generator=gen)
    ends = starts + torch.randint(3, n // 2, (b,), generator=gen)
    inside = (torch.arange(n) >= starts[:, None]) & (torch.arange(n) <= ends[:, None])
    marker = torch.randn(dim, generator=gen)
    # like projected motion tokens: a large offset shared by all frames, small variation
    tokens = 4 * torch.randn(dim, generator=gen) + 0.5 * torch.randn(b, n, dim, generator=gen)
    tokens = tokens + 0.5 * inside[..., None] * marker
    # like SmolLM2's last hidden states: a few large shared dimensions, norms of ~50
    hidden = 6 * torch.randn(length, dim, generator=gen) + torch.randn(b, length, dim,
                                                                        generator=gen)
    target = torch.stack([starts, ends], -1).float() / (n - 1)
    head = RegressionHead(dim, 32)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3)
    token_mask = torch.ones(b, n, dtype=torch.bool)
    text_mask = torch.ones(b, length, dtype=torch.bool)
    losses = []
    for _ in range(150):
        pred = head(tokens, token_mask, hidden, text_mask)
        loss = diou_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
    assert pred[:, 0].std() > 0.05  # spans differ per sample, not one span for all


def test_frames_head_finds_spans_it_was_not_trained_on():
    """The per-token head on the same kind of inputs: trained on 96 motions, it must find
    the marked span of 32 others (R@1 at IoU 0.5)."""
    from mochat.metrics import temporal_recall
    from mochat.models.layers import FrameBoundaryHead, best_span

    gen = torch.Generator().manual_seed(0)
    b, n, length, dim = 128, 24, 20, 64
    starts = torch.randint(0, n // 2, (b,), generator=gen)
    ends = starts + torch.randint(3, n // 2, (b,), generator=gen)
    inside = (torch.arange(n) >= starts[:, None]) & (torch.arange(n) <= ends[:, None])
    marker = torch.randn(dim, generator=gen)
    tokens = 4 * torch.randn(dim, generator=gen) + 0.5 * torch.randn(b, n, dim, generator=gen)
    tokens = tokens + 0.5 * inside[..., None] * marker
    hidden = 6 * torch.randn(length, dim, generator=gen) + torch.randn(b, length, dim,
                                                                        generator=gen)
    head = FrameBoundaryHead(dim, 32)
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3)
    token_mask = torch.ones(b, n, dtype=torch.bool)
    text_mask = torch.ones(b, length, dtype=torch.bool)
    train, test = slice(0, 96), slice(96, b)
    for _ in range(100):
        logits = head(tokens[train], token_mask[train], hidden[train], text_mask[train])
        loss = (torch.nn.functional.cross_entropy(logits[..., 0], starts[train]) +
                torch.nn.functional.cross_entropy(logits[..., 1], ends[train]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        spans = best_span(head(tokens[test], token_mask[test], hidden[test], text_mask[test]))
    assert bool((spans[:, 0] <= spans[:, 1]).all())
    truth = torch.stack([starts[test], ends[test]], -1)
    recall = temporal_recall([tuple(map(float, s)) for s in spans.tolist()],
                             [tuple(map(float, s)) for s in truth.tolist()])
    assert recall["r1_iou_0.5"] >= 80


def test_best_span_picks_the_highest_ordered_pair():
    from mochat.models.layers import best_span

    logits = torch.full((1, 5, 2), -5.0)
    logits[0, 3, 0], logits[0, 1, 1] = 4.0, 4.0  # best start 3 and best end 1: not a span
    logits[0, 0, 0], logits[0, 4, 1] = 1.0, 2.0
    # ordered pairs: (3, 4) scores 4 + 2, (0, 1) scores 1 + 4, (3, 3) scores 4 - 5
    assert best_span(logits).tolist() == [[3, 4]]


def test_frames_head_reads_the_prompt_only(tiny_llm_dir):
    """In training the answer holds the ground-truth frames: the frames head must not see
    it, so its spans are the same with or without the answer appended."""
    model = _model(tiny_llm_dir, head="frames").eval()
    batch = collate(_rows(), _features(model.encoder.feature_dim), model.tokenizer, 1)
    mask = model.head_text_mask(batch.attention_mask, labels=batch.labels)
    answer = batch.labels != IGNORE_INDEX
    assert not bool((mask & answer).any())
    first = int(answer[0].nonzero()[0])
    assert bool(mask[0, :first].all()) and not bool(mask[0, first:].any())
    with torch.no_grad():
        full = model(batch.features, batch.feature_mask, batch.input_ids,
                     batch.attention_mask, batch.labels, batch.spans, batch.span_mask)
        prompt = torch.tensor([batch.input_ids[0, :first].tolist()])
        alone = model(batch.features[:1], batch.feature_mask[:1], prompt,
                      torch.ones_like(prompt))
    torch.testing.assert_close(full.spans[0], alone.spans[0])
    pooled = _model(tiny_llm_dir)  # the paper's head reads every state
    assert bool(pooled.head_text_mask(batch.attention_mask, labels=batch.labels).equal(
        batch.attention_mask.bool()))


def test_labels_cover_only_the_answer(tiny_llm_dir):
    model = _model(tiny_llm_dir)
    chat = encode_chat(model.tokenizer, to_messages(_rows()[0]["conversations"]),
                       num_motion_tokens=7)
    assert chat.input_ids.count(model.skeleton_id) == 7
    trained = [t for t, label in zip(chat.input_ids, chat.labels, strict=True)
               if label != IGNORE_INDEX]
    assert model.tokenizer.decode(trained).strip() == ANSWER + "<|im_end|>"
    for token, label in zip(chat.input_ids, chat.labels, strict=True):
        assert label in (IGNORE_INDEX, token)
        if token == model.skeleton_id:
            assert label == IGNORE_INDEX


def test_only_the_first_placeholder_is_a_motion_slot(tiny_llm_dir):
    # a second <skeleton> is text (a user may type one); the slots still match the motion
    model = _model(tiny_llm_dir)
    turns = [{"from": "human", "value": "<skeleton> and <skeleton>"}]
    ids = encode_chat(model.tokenizer, to_messages(turns), num_motion_tokens=3,
                      generation_prompt=True).input_ids
    assert ids.count(model.skeleton_id) == 3
    assert "and <skeleton>" in model.tokenizer.decode(ids)


@pytest.mark.parametrize("config", [{"pool_frames": 1}, {"pool_frames": 4, "frame_tokens": True,
                                                         "projector": "mlp2x_gelu"},
                                    {"pool_frames": 2, "head": "frames"}])
def test_a_few_steps_overfit_a_tiny_batch(tiny_llm_dir, config):
    model = _model(tiny_llm_dir, **config)
    batch = collate(_rows(), _features(model.encoder.feature_dim), model.tokenizer,
                    model.config.pool_frames)
    grounding = [p for n, p in model.named_parameters() if n.startswith(("head", "projector"))]
    rest = [p for n, p in model.named_parameters()
            if p.requires_grad and not n.startswith(("head", "projector"))]
    opt = torch.optim.AdamW([{"params": rest, "lr": 5e-3}, {"params": grounding, "lr": 1e-3}])
    first = None
    for _ in range(50):
        out = model(batch.features, batch.feature_mask, batch.input_ids, batch.attention_mask,
                    batch.labels, batch.spans, batch.span_mask)
        first = first or (out.ce_loss.item(), out.diou_loss.item(),
                          out.boundary_loss.item() if out.boundary_loss is not None else 0.0)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert out.ce_loss.item() < 0.5 * first[0]
    assert out.diou_loss.item() < 0.5 * first[1]
    assert (out.boundary_loss is not None) == (model.config.head == "frames")
    if out.boundary_loss is not None:
        assert out.boundary_loss.item() < 0.5 * first[2]
    # the head's span lies inside the motion (16 frames -> frames 0..15)
    start, end = out.spans[0].tolist()
    assert 0 <= start <= end <= 15


@pytest.mark.parametrize("head", ["pooled", "frames"])
def test_save_then_load_gives_identical_outputs(tiny_llm_dir, tmp_path, head):
    model = _model(tiny_llm_dir, frame_tokens=True, pool_frames=2, head=head).eval()
    batch = collate(_rows(), _features(model.encoder.feature_dim), model.tokenizer, 2)
    with torch.no_grad():
        before = model(batch.features, batch.feature_mask, batch.input_ids,
                       batch.attention_mask)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = MoChat.from_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        after = loaded(batch.features, batch.feature_mask, batch.input_ids,
                       batch.attention_mask)
    torch.testing.assert_close(after.logits, before.logits)
    torch.testing.assert_close(after.spans, before.spans)


def test_a_checkpoint_loads_only_into_its_own_projector(tiny_llm_dir, tmp_path):
    _model(tiny_llm_dir).save_pretrained(tmp_path / "linear")
    # an mlp2x_gelu projector has projector.0.* and .2.*; the linear checkpoint has neither
    with pytest.raises(DataFormatError, match=r"missing \['projector\.0\.bias'"):
        MoChat.from_pretrained(tmp_path / "linear", config={"projector": "mlp2x_gelu"})


def test_pipeline_answers_when_questions_with_a_span_in_seconds(tiny_llm_dir):
    pipeline = MoChatPipeline(_model(tiny_llm_dir).eval(), max_new_tokens=4)
    joints = synthesize_motion("m", np.random.default_rng(0)).joints
    conv = pipeline.conversation(joints, fps=20.0)
    answer = pipeline.chat(conv, "When does the person jump?")
    assert answer.span is not None and 0 <= answer.span.start <= answer.span.end < len(joints)
    assert answer.span.end_s == pytest.approx(answer.span.end / 20.0)
    assert pipeline.chat(conv, "Describe the motion.").span is None
    # a follow-up sees the earlier turns: the prompt grows by the first exchange
    follow = conv.messages("and the left arm?")
    conv.turns.append(("Describe the motion.", "a person jumps."))
    assert len(conv.messages("and the left arm?")) == len(follow) + 2


def test_text_only_conversation_has_no_placeholder(tiny_llm_dir):
    conv = Conversation(torch.zeros(0, 8))
    assert "<skeleton>" not in conv.messages("Who are you?")[-1]["content"]


def test_question_and_span_parsing():
    assert asks_when("From which frame does the kick start?")
    assert not asks_when("Which hand waves?")
    assert parse_span("From frame 20 to frame 33. A person bends.") == (20, 33)
    assert parse_span("From <frameid_4> to <frameid_9>, waves") == (4, 9)
    assert parse_span("no span here") is None
    rewritten = replace_span("From frame 1 to frame 2. waves", 9, 74)
    assert rewritten == "From frame 9 to frame 74. waves"
    assert replace_span("it waves", 9, 74) == "it waves"
    assert replace_span("from frame 1 to frame 2.", 9, 74, frame_tokens=True) == \
        "from <frameid_9> to <frameid_74>."


def test_cft_answers_are_trained_as_frame_tokens(tiny_llm_dir):
    model = _model(tiny_llm_dir, frame_tokens=True, regression_head=False)
    features = _features(model.encoder.feature_dim)
    plain = collate(_rows(), features, model.tokenizer, 1)
    cft = collate(_rows(), features, model.tokenizer, 1, frame_tokens=True)
    answer_ids = cft.labels[0][cft.labels[0] != IGNORE_INDEX].tolist()
    frame_ids = [model.frame_id0 + 3, model.frame_id0 + 9]
    assert all(i in answer_ids for i in frame_ids)  # the span is two frame-ID tokens
    assert not set(frame_ids) & set(plain.labels[0].tolist())
    def answer(batch, row):
        return batch.labels[row][batch.labels[row] != IGNORE_INDEX].tolist()
    assert answer(cft, 1) == answer(plain, 1)  # no span: the same answer
    # and the model scores them: the CE over the frame-token targets is finite
    out = model(cft.features, cft.feature_mask, cft.input_ids, cft.attention_mask, cft.labels)
    assert torch.isfinite(out.ce_loss)



@pytest.mark.parametrize("head", ["pooled", "frames"])
def test_decode_keeps_the_states_a_second_forward_would_compute(tiny_llm_dir, head):
    # the head reads hidden states kept during decoding; a second forward (right padded)
    # must give the same spans, for prompts of different lengths in one batch: over prompt
    # + answer for the pooled head, over the prompt alone for the frames head
    model = _model(tiny_llm_dir, pool_frames=2, head=head).eval()
    frames = (16, 9)
    feats = torch.zeros(2, 16, model.encoder.feature_dim)
    fmask = torch.zeros(2, 16, dtype=torch.bool)
    prompts = []
    for i, (n, question) in enumerate(zip(frames, ["When does the person wave?",
                                                   "From which frame does the kick start?"],
                                          strict=True)):
        feats[i, :n], fmask[i, :n] = torch.randn(n, model.encoder.feature_dim), True
        conv = Conversation(feats[i, :n])
        prompts.append(encode_chat(model.tokenizer, conv.messages(question),
                                   num_motion_tokens=-(-n // 2), generation_prompt=True).input_ids)
    gen = greedy_decode(model, feats, fmask, prompts, max_new_tokens=5, keep_hidden=True)
    text_mask = model.head_text_mask(gen.hidden_mask, prompt_lengths=[len(p) for p in prompts])
    kept = model.head_spans(gen.motion_tokens, gen.motion_mask, gen.hidden, text_mask, fmask)
    for i, n in enumerate(frames):
        full = torch.tensor([prompts[i] + gen.token_ids[i]])
        read = full if head == "pooled" else torch.tensor([prompts[i]])
        with torch.no_grad():
            out = model(feats[i:i + 1, :n], fmask[i:i + 1, :n], full, torch.ones_like(full))
            second = model(feats[i:i + 1, :n], fmask[i:i + 1, :n], read, torch.ones_like(read))
        length = full.shape[1]
        assert int(gen.hidden_mask[i].sum()) == length
        # the same states, row by row, up to float error (the KV cache and left padding
        # sum in another order); a misaligned or padded row differs by O(1)
        torch.testing.assert_close(gen.hidden[i, :length], out.hidden_states[0],
                                   atol=1e-3, rtol=1e-3)
        # spans in frames (answers round them): float error moves them by hundredths
        torch.testing.assert_close(kept[i], second.spans[0], atol=0.1, rtol=0)


def test_lora_checkpoint_reloads_with_identical_outputs(tiny_llm_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    model = _model(tiny_llm_dir)
    model.llm = get_peft_model(model.llm, LoraConfig(r=4, lora_alpha=8, task_type="CAUSAL_LM",
                                                     target_modules=["q_proj", "v_proj"]))
    for name, param in model.llm.named_parameters():
        if "lora_B" in name:  # a trained adapter: B is no longer zero
            torch.nn.init.normal_(param, std=0.5)
    model.eval()
    batch = collate(_rows(), _features(model.encoder.feature_dim), model.tokenizer, 1)
    with torch.no_grad():
        before = model(batch.features, batch.feature_mask, batch.input_ids,
                       batch.attention_mask)
    model.save_pretrained(tmp_path / "ckpt")
    for merge in (True, False):
        loaded = MoChat.from_pretrained(tmp_path / "ckpt", merge_adapter=merge).eval()
        with torch.no_grad():
            after = loaded(batch.features, batch.feature_mask, batch.input_ids,
                           batch.attention_mask)
        torch.testing.assert_close(after.logits, before.logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(after.spans, before.spans, atol=1e-4, rtol=1e-4)


def test_answer_logprobs_match_an_unpadded_forward(tiny_llm_dir):
    # batched, right padded, with a history turn: each score is the sum of the log-probs
    # of the last answer's tokens, as one unpadded forward of that dialogue computes it
    model = _model(tiny_llm_dir, pool_frames=2).eval()
    pipeline = MoChatPipeline(model)
    dim = model.encoder.feature_dim
    short = Conversation(torch.randn(9, dim))
    long = Conversation(torch.randn(16, dim), turns=[("Which hand waves?", "Left.")])
    items = [(short, "Which leg kicks?", "Right."), (long, "And which leg kicks?", "Left."),
             (short, "Describe the motion.", "a person waves with the left hand.")]
    scores = pipeline.answer_logprobs(items)
    for (conv, question, answer), score in zip(items, scores, strict=True):
        n = -(-conv.features.shape[0] // 2)
        messages = conv.messages(question)
        start = len(encode_chat(model.tokenizer, messages, num_motion_tokens=n,
                                generation_prompt=True).input_ids)
        ids = encode_chat(model.tokenizer, [*messages, {"role": "assistant", "content": answer}],
                          num_motion_tokens=n).input_ids
        full = torch.tensor([ids])
        with torch.no_grad():
            logits = model(conv.features[None], torch.ones(1, conv.features.shape[0],
                                                           dtype=torch.bool),
                           full, torch.ones_like(full)).logits[0]
        logp = torch.log_softmax(logits.float(), -1)
        expected = sum(float(logp[p - 1, ids[p]]) for p in range(start, len(ids)))
        assert score == pytest.approx(expected, abs=1e-3)
        assert score < 0.0
    assert pipeline.answer_logprobs([]) == []
    # another answer to the same prompt gets another score
    assert pipeline.answer_logprobs([(short, "Which leg kicks?", "Right. Right.")])[0] != \
        pytest.approx(scores[0], abs=1e-3)



@pytest.mark.parametrize("head", ["pooled", "frames"])
def test_a_when_question_without_motion_gets_text_and_no_span(tiny_llm_dir, head):
    # a text-only chat has no motion tokens to ground: no span (the frames head's
    # convolutions crashed on a length-0 sequence); beside a motion, only that one has one
    model = _model(tiny_llm_dir, head=head).eval()
    pipeline = MoChatPipeline(model, max_new_tokens=3)
    dim = model.encoder.feature_dim
    text_only = Conversation(torch.zeros(0, dim))
    [alone] = pipeline.answer_batch([(text_only, "When does the person wave?")])
    assert isinstance(alone.text, str) and alone.span is None
    mixed = pipeline.answer_batch([(text_only, "When does the person wave?"),
                                   (Conversation(torch.randn(12, dim)), "When does it wave?")])
    assert mixed[0].span is None and mixed[1].span is not None
    with torch.no_grad():  # the forward (training's path) too: no span, no crash
        ids = torch.tensor([encode_chat(model.tokenizer, text_only.messages("When?"),
                                        num_motion_tokens=0).input_ids])
        out = model(torch.zeros(1, 0, dim), torch.zeros(1, 0, dtype=torch.bool), ids,
                    torch.ones_like(ids))
    assert out.spans is None and out.logits is not None
