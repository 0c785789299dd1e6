"""The evaluator's session, presence and consistency figures, on hand-made answers."""

from __future__ import annotations

import pytest
import torch

from mochat.dialogue.templates import BASIC_INSTRUCTIONS, NOT_IN_MOTION
from mochat.pipeline import ChatAnswer, Span
from training.lm_eval import (
    absent_rate,
    answer_sessions,
    compare,
    consistency,
    followup_metrics,
    followup_questions,
    frames_outside,
    presence_metrics,
    span_mismatch,
    span_rate,
    yes_rate,
)


def _answer(text: str, span: tuple[int, int] | None = None, frames: int = 50) -> ChatAnswer:
    return ChatAnswer(text, None if span is None else Span(*span, span[0] / 20, span[1] / 20),
                      frames, 20.0)


def _row(task: str, motion: str, question: str, answer: str, span=None, k: int = 0) -> dict:
    return {"id": f"{task}-{motion}-{k}", "motion_id": motion, "task": task, "span": span,
            "conversations": [{"from": "human", "value": f"<skeleton>\n{question}"},
                              {"from": "gpt", "value": answer}]}


def test_absent_span_and_yes_rates():
    answers = [_answer(NOT_IN_MOTION), _answer("that does not happen in this motion"),
               _answer(NOT_IN_MOTION, (1, 4)),  # says so, but came with a span: no
               _answer("From frame 4 to frame 11.", (4, 11))]
    assert absent_rate(answers) == 50.0  # 2 of 4
    assert span_rate(answers) == 50.0
    assert yes_rate([_answer("Yes, the person waves."), _answer("yes"), _answer("No.")]) == \
        pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="no answers"):
        absent_rate([])


def test_frames_outside_and_span_mismatch():
    # a 50-frame motion: frames 0..49
    assert not frames_outside(_answer("From frame 4 to frame 49.", (4, 49)))
    assert frames_outside(_answer("From frame 4 to frame 50.", (4, 49)))  # the text's 50
    assert frames_outside(_answer("Left.", (4, 60)))  # the span's 60
    assert not span_mismatch(_answer("From frame 4 to frame 49.", (4, 49)))
    assert span_mismatch(_answer("The action is completed at the end of a frame.", (4, 9)))
    assert span_mismatch(_answer("From frame 4 to frame 11."))  # frames, no span
    assert not span_mismatch(_answer(NOT_IN_MOTION))
    answers = [_answer("From frame 4 to frame 69.", (4, 49)), _answer("Left."),
               _answer("From frame 4 to frame 11.")]
    # the first is outside and differs from its span; the third names frames with no span
    assert consistency(answers) == {"answers": 3, "frames_outside_motion": 1,
                                    "text_span_mismatch": 2}


def test_presence_metrics_and_their_baselines():
    absent_rows = [_row("absent", "M1", "When does the person jump?", NOT_IN_MOTION),
                   _row("absent", "M1", "Did the person kick with the left leg?", NOT_IN_MOTION)]
    absent = [_answer("From frame 4 to frame 11.", (4, 11)), _answer(NOT_IN_MOTION)]
    present_rows = [_row("present", "M1", "Did the person wave?", "Yes, the person waves."),
                    _row("present", "M1", "When does the person wave?",
                         "From frame 3 to frame 9.", [3, 9])]
    present = [_answer("A person jumped forward."), _answer(NOT_IN_MOTION)]
    temporal = [_answer("From frame 1 to frame 2.", (1, 2))]
    out = presence_metrics(absent_rows, absent, present_rows, present, temporal)
    # absent: the jump got frames, the kick the right answer
    assert out["absent"] == {"questions": 2, "not_in_motion": 50.0,
                             "when": {"questions": 1, "not_in_motion": 0.0},
                             "yes_no": {"questions": 1, "not_in_motion": 100.0}}
    # present "when": the temporal one got a span, the present set's said not there
    assert out["present_when"] == {"questions": 2, "span_rate": 50.0, "not_in_motion": 50.0}
    assert out["present_yes_no"] == {"questions": 1, "yes_rate": 0.0, "not_in_motion": 0.0}
    assert out["baselines"]["always_not_in_motion"]["absent"] == 100.0
    assert out["baselines"]["always_not_in_motion"]["present_when_span"] == 0.0
    assert out["baselines"]["never_not_in_motion"]["absent"] == 0.0


def test_followup_metrics_compare_the_same_rows():
    rows = [_row("spatial_gap", "M1", "a ( ) kick.", "Left."),
            _row("spatial_gap", "M2", "a ( ) wave.", "Right."),
            _row("temporal", "M1", "When does it kick?", "From frame 0 to frame 9.", [0, 9])]
    alone = [_answer("Left."), _answer("Right."), _answer("x", (0, 9))]
    # as follow-ups: the second gap repeats the answer before it, the span drifts off
    followup = [_answer("Left."), _answer("Left."), _answer("x", (20, 40))]
    out = followup_metrics(rows, alone, followup, turns=[2, 3, 2])
    assert out["questions"] == 3
    assert out["spatial"] == {"alone": 100.0, "followup": 50.0, "difference": -50.0}
    assert out["temporal_r1_iou_0.5"] == compare(100.0, 0.0)
    assert out["by_turn"]["3"] == {"questions": 1, "spatial": compare(100.0, 0.0)}
    assert out["by_turn"]["2"]["spatial"] == compare(100.0, 100.0)


def test_followup_questions_open_with_a_caption_and_vary_the_turn():
    rows = [_row("spatial_gap", "M1", f"gap {k}?", "Left.", k=k) for k in range(4)]
    pool = [*rows, _row("temporal", "M1", "When does it kick?", "From frame 0 to frame 9.",
                        [0, 9])]
    before = followup_questions(rows, pool, seed=0)
    # asked as the 2nd, 3rd, 4th, 2nd turn; one caption question for the motion
    assert [len(b) for b in before] == [1, 2, 3, 1]
    assert len({b[0] for b in before}) == 1 and before[0][0] in BASIC_INSTRUCTIONS
    for row, questions in zip(rows, before, strict=True):
        own = row["conversations"][0]["value"].removeprefix("<skeleton>\n")
        assert own not in questions and len(set(questions)) == len(questions)
    assert followup_questions(rows, pool, seed=0) == before
    # a "when" row's session never asks about its own span in other words
    when = _row("temporal", "M1", "When does it kick?", "From frame 0 to frame 9.", [0, 9])
    same = _row("present", "M1", "And when does the person kick?", "From frame 0 to frame 9.",
                [0, 9])
    other = _row("temporal", "M1", "When does it wave?", "From frame 10 to frame 19.", [10, 19])
    before = followup_questions([rows[0], rows[1], when], [when, same, other], seed=0)
    assert before[2][1:] == ["When does it wave?"]


class _Recorder:
    """Answers a question with its history's length and records every item it gets."""

    def __init__(self) -> None:
        self.items: list[tuple[list[tuple[str, str]], str]] = []

    def answer_batch(self, items):
        out = []
        for conv, question in items:
            self.items.append((list(conv.turns), question))
            out.append(_answer(f"answer {len(conv.turns)} to {question}"))
        return out


def test_answer_sessions_use_the_model_s_own_answers_and_share_turns():
    rows = [_row("spatial_gap", "M1", "gap A?", "Left.", k=0),
            _row("spatial_gap", "M1", "gap B?", "Left.", k=1)]
    before = [["Describe it."], ["Describe it.", "When does it kick?"]]
    features = {"M1": torch.zeros(8, 4)}
    recorder = _Recorder()
    sessions = answer_sessions(recorder, rows, before, features)  # type: ignore[arg-type]
    # turn by turn: the shared caption turn once, then gap A beside the filler, then gap B
    assert [q for _, q in recorder.items] == ["Describe it.", "gap A?", "When does it kick?",
                                              "gap B?"]
    assert recorder.items[-1][0] == [("Describe it.", "answer 0 to Describe it."),
                                     ("When does it kick?", "answer 1 to When does it kick?")]
    assert [a.text for a in sessions.answers] == ["answer 1 to gap A?", "answer 2 to gap B?"]
    assert len(sessions.every_turn) == 4


def test_evaluate_model_reports_the_new_figures(corpus, tiny_llm_dir, tmp_path):
    from mochat.dialogue.build import build_dialogues
    from mochat.models import build_encoder, encoder_tiny
    from mochat.models.llm import load_llm
    from mochat.models.mochat import MoChat, MoChatConfig
    from mochat.skeleton import SMPL22
    from training.lm_eval import evaluate_model

    build_dialogues(corpus, tmp_path, general=False)
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    model = MoChat(MoChatConfig(llm=str(tiny_llm_dir), head="frames", pool_frames=2),
                   build_encoder("jgse", encoder_tiny(), SMPL22), llm, tokenizer)
    metrics = evaluate_model(model, corpus, tmp_path, per_task=3, max_new_tokens=3,
                             bertscore=False, baselines=False,
                             tasks=["spatial_gap", "temporal", "absent", "present"])
    assert metrics["followup"]["questions"] == 6  # the 3 gap and 3 "when" rows again
    assert set(metrics["followup"]["spatial"]) == {"alone", "followup", "difference"}
    assert metrics["followup"]["spatial"]["alone"] == metrics["spatial"]["accuracy"]
    assert metrics["followup"]["temporal_r1_iou_0.5"]["alone"] == \
        metrics["temporal"]["r1_iou_0.5"]
    assert metrics["presence"]["absent"]["questions"] == 3
    assert set(metrics["spatial"]["motion_mirrored"]) == {"answers", "changed",
                                                          "baseline_text_only"}
    # 6 alone, 6 follow-ups and their earlier turns, 3 absent and the present ones
    assert metrics["consistency"]["answers"] >= 6 + 6 + 3
    assert set(metrics["consistency"]) == {"answers", "frames_outside_motion",
                                           "text_span_mismatch"}


def test_side_changes_count_answers_that_follow_the_mirrored_motion():
    from training.lm_eval import side_changes

    before = ["Left.", "Right.", "Left.", "I cannot tell."]
    after = ["Right.", "Right.", "left", "Left."]
    # the 4th names no side the first time: 3 answers, 1 of them changed
    assert side_changes(before, after) == {"answers": 3, "changed": 33.33,
                                           "baseline_text_only": 0.0}
    assert side_changes(before, before)["changed"] == 0.0  # a text-only reader
