"""An answer's text and its span are one thing: the text states the span's frames, a
"not in this motion" answer has none, no span outside the motion, none for other questions.

The tiny model's text is random; `_clean` (the last step of decoding) is replaced to script
what the model "said", so each rule is checked on a known text.
"""

from __future__ import annotations

import pytest
import torch

from mochat import pipeline as pl
from mochat.dialogue.templates import NOT_IN_MOTION
from mochat.models import build_encoder, encoder_tiny
from mochat.models.chat_format import span_agrees
from mochat.models.llm import load_llm
from mochat.models.mochat import MoChat, MoChatConfig
from mochat.pipeline import Conversation, MoChatPipeline, Span, asks_when, span_text
from mochat.skeleton import SMPL22

FRAMES = 12  # every conversation: 12 model frames, 0..11


def _pipeline(tiny_llm_dir, **config) -> MoChatPipeline:
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    model = MoChat(MoChatConfig(llm=str(tiny_llm_dir), **config), encoder, llm, tokenizer)
    return MoChatPipeline(model.eval(), max_new_tokens=3)


@pytest.fixture(scope="module")
def head(tiny_llm_dir):
    return _pipeline(tiny_llm_dir, head="frames", pool_frames=2)


@pytest.fixture(scope="module")
def plain(tiny_llm_dir):
    return _pipeline(tiny_llm_dir, regression_head=False)


def _say(monkeypatch, text: str) -> None:
    monkeypatch.setattr(pl, "_clean", lambda _: text)


def _ask(pipeline, question, turns=()):
    conv = Conversation(torch.randn(FRAMES, pipeline.model.encoder.feature_dim),
                        turns=list(turns))
    return pipeline.answer_batch([(conv, question)])[0]


def test_span_text_states_the_span_and_nothing_else():
    span = Span(3, 9, 0.15, 0.45)
    assert span_text("From frame 1 to frame 300.", span) == "From frame 3 to frame 9."
    assert span_text("from frame 1 to frame 2, a wave", span) == "from frame 3 to frame 9, a wave"
    # no frames, or frames beside the span: the template
    assert span_text("The action is completed at the end of a frame.", span) == \
        "From frame 3 to frame 9."
    assert span_text("From frame 1 to frame 2, then frame 80.", span) == \
        "From frame 3 to frame 9."
    assert span_text("Left.", None) == "Left."


@pytest.mark.parametrize("said", ["A person jumped forward.", "From frame 4 to frame 69.",
                                  "The action is completed at the end of a frame."])
def test_a_head_span_is_what_the_text_says(head, monkeypatch, said):
    _say(monkeypatch, said)
    answer = _ask(head, "When does the person wave?")
    assert answer.span is not None and 0 <= answer.span.start <= answer.span.end < FRAMES
    assert answer.text == f"From frame {answer.span.start} to frame {answer.span.end}."


def test_not_in_this_motion_has_no_span(head, monkeypatch):
    _say(monkeypatch, NOT_IN_MOTION)
    answer = _ask(head, "When does the person jump?")
    assert answer.span is None and answer.text == NOT_IN_MOTION


def test_text_frames_past_the_end_are_clamped(plain, monkeypatch):
    # no head: the span is the text's, clamped to the last frame, 11, and the text says so
    _say(monkeypatch, "From frame 3 to frame 900.")
    answer = _ask(plain, "When does the person kick?")
    assert (answer.span.start, answer.span.end) == (3, 11)
    assert answer.text == "From frame 3 to frame 11."
    _say(monkeypatch, "From frame 40 to frame 20.")  # reversed, both past the end
    answer = _ask(plain, "When does the person kick?")
    assert (answer.span.start, answer.span.end) == (11, 11)


def test_other_questions_never_get_a_span(head, monkeypatch):
    _say(monkeypatch, "From frame 4 to frame 69.")
    answer = _ask(head, "Complete the content in brackets with left or right.")
    # kept as said, so the evaluator counts it: frames in the text, no span
    assert answer.span is None and not span_agrees(answer.text, None)


def test_a_short_follow_up_to_a_when_question_is_one(head, monkeypatch):
    when = [("When does the person wave?", "From frame 1 to frame 5.")]
    assert asks_when("And the kick?", when)
    assert asks_when("What about the punch?", [*when, ("And the kick?", "From 6 to 9.")])
    assert not asks_when("And the kick?")  # nothing before it
    assert not asks_when("And which hand?", when)  # asks for a side
    assert not asks_when("And the kick?", [("Describe the motion.", "a person waves.")])
    _say(monkeypatch, "The kick.")
    answer = _ask(head, "And the kick?", when)
    assert answer.span is not None and span_agrees(answer.text,
                                                   (answer.span.start, answer.span.end))
