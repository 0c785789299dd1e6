"""Evaluate a MoChat model on the test dialogues: the paper's three tasks.

- captions: the basic-understanding questions, scored against all captions of what the
  model was shown: the motion's whole-motion captions, or for a dialogue about one segment
  ("frames") the captions of that segment (BLEU@1/4, ROUGE-L, CIDEr, MiniLM-BERTScore);
- spatial: gap-filling left/right accuracy;
- temporal: R@1 at IoU 0.3/0.5/0.7 (head spans for MoChat-R, parsed text otherwise), the
  IoU over inclusive frame numbers (`frame_iou`): answers and ground truth are both frames;
- chat: the answer to "Who are you?", to check general chat survived fine-tuning.
- followup: the same gap and "when" questions asked as the 2nd, 3rd or 4th turn of a session
  that opened with a caption question (the turns between are other questions about the
  motion; every earlier answer is the model's own), beside the figures asked alone;
- presence: absent actions ("absent" set: share answered templates.NOT_IN_MOTION with no
  span), present ones ("when" questions that got a span, yes/no ones answered "Yes"),
  each beside the answer-always-absent and never-absent baselines;
- consistency: over every answer above, how many name frames outside the motion and how
  many state frames other than their span (`span_agrees`).
Answers are generated in small batches with the same pipeline the service uses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mochat.dialogue.general import HELD_OUT_QUESTIONS
from mochat.dialogue.rows import (  # re-exported for training's callers
    CAPTION_TASKS,
    GAP_TASKS,
    TEMPORAL_TASKS,
    caption_refs,
    gap_gold,
)
from mochat.dialogue.templates import BASIC_INSTRUCTIONS, says_not_in_motion
from mochat.metrics import (
    caption_scores,
    frame_iou,
    parse_side,
    spatial_accuracy,
    temporal_recall,
)
from mochat.models.chat_format import span_agrees, text_frames
from mochat.models.mochat import MoChat
from mochat.pipeline import ChatAnswer, Conversation, MoChatPipeline, asks_when
from mochat.skeleton import HumanML3DCorpus
from training.eval_baselines import baseline_metrics
from training.lm_data import (
    MIRROR_SUFFIX,
    encode_corpus,
    first_turn,
    gap_kinds,
    kind_groups,
    mirror_dialogue,
    read_dialogues,
    row_features,
)

ABSENT_TASKS = ("absent",)
PRESENT_TASKS = ("present",)
# Questions a follow-up's session asks between its caption turn and the scored question.
FILLER_TASKS = ("spatial_gap", "temporal", "absent", "present")


def answer_rows(pipeline: MoChatPipeline, rows: Sequence[dict], features: dict[str, torch.Tensor],
                *, batch_size: int = 8) -> list[Any]:
    out = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        items = [(Conversation(row_features(r, features)), first_turn(r)[0]) for r in chunk]
        out.extend(pipeline.answer_batch(items))
    return out


# -- follow-ups -----------------------------------------------------------------------------
def followup_questions(rows: Sequence[dict], pool: Sequence[dict], seed: int = 0
                       ) -> list[list[str]]:
    """Per row, the questions its session asks before the row's own: a caption question
    (one per motion), then 0, 1 or 2 other questions about the motion from `pool` (by row
    position: the row's question is the 2nd, 3rd, 4th, 2nd ... turn; fewer when the motion
    has fewer other questions). None asks about the row's own span: its answer would be
    the row's."""
    by_motion: dict[str, list[dict]] = {}
    for row in pool:
        by_motion.setdefault(row["motion_id"], []).append(row)
    out = []
    for k, row in enumerate(rows):
        motion, own = row["motion_id"], first_turn(row)[0]
        rng = random.Random(f"{seed}-followup-{motion}")
        caption = rng.choice(BASIC_INSTRUCTIONS)  # the same for every row of the motion
        others = sorted({first_turn(r)[0] for r in by_motion.get(motion, [])
                         if not (row.get("span") and r.get("span") == row["span"])} - {own})
        rng = random.Random(f"{seed}-followup-{row.get('id')}")
        out.append([caption, *rng.sample(others, min(k % 3, len(others)))])
    return out


@dataclass
class Sessions:
    answers: list[ChatAnswer]  # per row, the answer to its own question
    every_turn: list[ChatAnswer]  # every answer the sessions got, each shared turn once


def answer_sessions(pipeline: MoChatPipeline, rows: Sequence[dict],
                    before: Sequence[Sequence[str]], features: dict[str, torch.Tensor], *,
                    batch_size: int = 8) -> Sessions:
    """Each row's question asked after the questions `before` it, turn by turn, every
    earlier answer the model's own; a turn shared by sessions (a motion's caption turn) is
    answered once."""
    asks = [[*b, first_turn(r)[0]] for r, b in zip(rows, before, strict=True)]
    done: dict[tuple[str, ...], ChatAnswer] = {}  # (motion, questions so far) -> answer
    for depth in range(max((len(a) for a in asks), default=0)):
        todo: dict[tuple[str, ...], int] = {}
        for i, questions in enumerate(asks):
            key = (rows[i]["motion_id"], *questions[:depth + 1])
            if depth < len(questions) and key not in done:
                todo.setdefault(key, i)
        keys = list(todo)
        for start in range(0, len(keys), batch_size):
            chunk = keys[start:start + batch_size]
            items = []
            for key in chunk:
                row = rows[todo[key]]
                history = [(q, done[key[:j + 2]].text) for j, q in enumerate(key[1:-1])]
                items.append((Conversation(row_features(row, features), turns=history), key[-1]))
            done.update(zip(chunk, pipeline.answer_batch(items), strict=True))
    return Sessions([done[(r["motion_id"], *a)] for r, a in zip(rows, asks, strict=True)],
                    list(done.values()))


def compare(alone: float, followup: float) -> dict[str, float]:
    """One figure asked alone and as a follow-up, and the follow-up's change."""
    return {"alone": alone, "followup": followup, "difference": followup - alone}


def _spans_of(answers: Sequence[ChatAnswer]) -> list[tuple[float, float]]:
    return [(a.span.start, a.span.end) if a.span else (-1.0, -1.0) for a in answers]


def followup_metrics(rows: Sequence[dict], alone: Sequence[ChatAnswer],
                     followup: Sequence[ChatAnswer], turns: Sequence[int]) -> dict[str, Any]:
    """Gap accuracy and "when" R@1 at IoU 0.5 of the same rows asked alone and as a
    follow-up (`turns`: the turn each was asked at), overall and by turn."""
    def figures(picked: Sequence[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"questions": len(picked)}
        gaps = [k for k in picked if rows[k]["task"] in GAP_TASKS]
        if gaps:
            gold = [gap_gold(rows[k]) for k in gaps]
            out["spatial"] = compare(spatial_accuracy([alone[k].text for k in gaps], gold),
                                     spatial_accuracy([followup[k].text for k in gaps], gold))
        whens = [k for k in picked if rows[k]["task"] in TEMPORAL_TASKS]
        if whens:
            gts = [(float(rows[k]["span"][0]), float(rows[k]["span"][1])) for k in whens]
            def r1(answers: Sequence[ChatAnswer]) -> float:
                preds = _spans_of([answers[k] for k in whens])
                return temporal_recall(preds, gts, iou=frame_iou)["r1_iou_0.5"]
            out["temporal_r1_iou_0.5"] = compare(r1(alone), r1(followup))
        return out

    metrics = figures(range(len(rows)))
    metrics["by_turn"] = {str(t): figures([k for k, n in enumerate(turns) if n == t])
                          for t in sorted(set(turns))}
    return metrics


# -- presence and consistency ---------------------------------------------------------------
def absent_rate(answers: Sequence[ChatAnswer]) -> float:
    """Share (x100) answered NOT_IN_MOTION with no span."""
    return _share([says_not_in_motion(a.text) and a.span is None for a in answers])


def span_rate(answers: Sequence[ChatAnswer]) -> float:
    """Share (x100) that returned a span."""
    return _share([a.span is not None for a in answers])


def yes_rate(answers: Sequence[ChatAnswer]) -> float:
    """Share (x100) of yes/no answers that say yes."""
    return _share([a.text.strip().lower().startswith("yes") for a in answers])


def _share(flags: Sequence[bool]) -> float:
    if not flags:
        raise ValueError("no answers to score")
    return 100.0 * sum(flags) / len(flags)


def frames_outside(answer: ChatAnswer) -> bool:
    """The answer's span or text names a frame outside the motion (0 .. num_frames - 1)."""
    frames = text_frames(answer.text)
    if answer.span is not None:
        frames += [answer.span.start, answer.span.end]
    return any(not 0 <= f < answer.num_frames for f in frames)


def span_mismatch(answer: ChatAnswer) -> bool:
    """The text names frames other than the returned span's (or some, with no span)."""
    span = None if answer.span is None else (answer.span.start, answer.span.end)
    return not span_agrees(answer.text, span)


def consistency(answers: Sequence[ChatAnswer]) -> dict[str, int]:
    """Counts over answers: frames outside the motion, text frames that are not the span.
    The template answer ('From frame S to frame E.' with its span inside) scores 0, 0."""
    return {"answers": len(answers), "frames_outside_motion": sum(map(frames_outside, answers)),
            "text_span_mismatch": sum(map(span_mismatch, answers))}


def presence_metrics(absent_rows: Sequence[dict], absent: Sequence[ChatAnswer],
                     present_rows: Sequence[dict], present: Sequence[ChatAnswer],
                     temporal: Sequence[ChatAnswer] = ()) -> dict[str, Any]:
    """Absent-action rate (all, "when", yes/no) on the absent set; on present actions, the
    span rate of "when" questions (the temporal sample and the present set's) and the yes
    rate of yes/no ones. Baselines: always answering NOT_IN_MOTION (absent 100, present 0)
    and never answering it (absent 0, present 100)."""
    out: dict[str, Any] = {}
    if absent:
        when = [a for r, a in zip(absent_rows, absent, strict=True)
                if asks_when(first_turn(r)[0])]
        yes_no = [a for r, a in zip(absent_rows, absent, strict=True)
                  if not asks_when(first_turn(r)[0])]
        out["absent"] = {"questions": len(absent), "not_in_motion": absent_rate(absent)}
        for name, picked in (("when", when), ("yes_no", yes_no)):
            if picked:
                out["absent"][name] = {"questions": len(picked),
                                       "not_in_motion": absent_rate(picked)}
    spans = [a for r, a in zip(present_rows, present, strict=True) if r.get("span")]
    whens = [*temporal, *spans]
    if whens:
        out["present_when"] = {"questions": len(whens), "span_rate": span_rate(whens),
                               "not_in_motion": absent_rate(whens)}
    yes_no = [a for r, a in zip(present_rows, present, strict=True) if not r.get("span")]
    if yes_no:
        out["present_yes_no"] = {"questions": len(yes_no), "yes_rate": yes_rate(yes_no),
                                 "not_in_motion": absent_rate(yes_no)}
    out["baselines"] = {"always_not_in_motion": {"absent": 100.0, "present_when_span": 0.0,
                                                 "present_yes": 0.0},
                        "never_not_in_motion": {"absent": 0.0, "present_when_span": 100.0,
                                                "present_yes": 100.0}}
    return out


def _followups(pipeline: MoChatPipeline, dialogues: str | Path, split: str,
               rows: Sequence[dict], alone: Sequence[ChatAnswer],
               features: dict[str, torch.Tensor], mirror: bool, seed: int
               ) -> tuple[dict[str, Any], list[ChatAnswer]]:
    """`followup_metrics` of rows about whole motions, and every answer their sessions got
    (the earlier turns' too). The fillers come from the split's other questions."""
    keep = [k for k, r in enumerate(rows) if r.get("frames") is None]
    rows, alone = [rows[k] for k in keep], [alone[k] for k in keep]
    motions = {r["motion_id"].removesuffix(MIRROR_SUFFIX) for r in rows}
    pool = [r for r in read_dialogues(dialogues, split, tasks=FILLER_TASKS)
            if r["motion_id"] in motions and r.get("frames") is None]
    if mirror:  # the rows' own motions, so their features are there
        pool = [mirror_dialogue(r) for r in pool]
    before = followup_questions(rows, pool, seed)
    sessions = answer_sessions(pipeline, rows, before, features)
    metrics = followup_metrics(rows, alone, sessions.answers, [len(b) + 1 for b in before])
    return metrics, sessions.every_turn


def side_changes(before: Sequence[str], after: Sequence[str]) -> dict[str, Any]:
    """How many answers name the other side after the motion alone is mirrored (x100 of
    the answers that name a side both times)."""
    sides = [(parse_side(a), parse_side(b)) for a, b in zip(before, after, strict=True)]
    named = [(a, b) for a, b in sides if a and b]
    changed = sum(a != b for a, b in named)
    return {"answers": len(named), "changed": round(100.0 * changed / len(named), 2)
            if named else 0.0, "baseline_text_only": 0.0}


def _motion_mirrored(model: MoChat, pipeline: MoChatPipeline, corpus_dir: str | Path,
                     rows: Sequence[dict], texts: Sequence[str],
                     features: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The gap questions asked again, word for word, about the mirror-image motions: a
    model that reads the side from the motion changes its answer, one that reads it from
    the caption's words (its other side words, its phrasing) keeps it. Left/right accuracy
    alone cannot tell the two apart: the captions carry side cues (`swap_other_sides`)."""
    mirrored = [{**r, "motion_id": r["motion_id"] + MIRROR_SUFFIX} for r in rows]
    features.update(encode_corpus(model.encoder, corpus_dir,
                                  (r["motion_id"] for r in mirrored), progress=False))
    return side_changes(texts, [a.text for a in answer_rows(pipeline, mirrored, features)])


def evaluate_model(model: MoChat, corpus_dir: str | Path, dialogues: str | Path, *,
                   per_task: int = 40, max_new_tokens: int = 40, seed: int = 0,
                   bertscore: bool = True, tasks: Sequence[str] | None = None,
                   mirror: bool = False, split: str = "test",
                   baselines: bool = True, followups: bool = True) -> dict[str, Any]:
    """Metrics (x100) per task on up to `per_task` test dialogues of each task; `tasks`
    keeps some tasks of that same sample (e.g. the cheap spatial_gap and temporal ones).
    `mirror` scores the same sample on the motions' mirror images (side words swapped): a
    model that reads the side from the motion scores about the same on both. `split` picks
    the dialogues (default the test split; "val" to check a choice made on the test split).
    `baselines` adds what structure alone scores on the same rows (`metrics["baselines"]`,
    training/eval_baselines.py), to read every figure against. `followups` asks the gap and
    temporal rows again as later turns of sessions (`metrics["followup"]`); the absent and
    present rows of the sample give `metrics["presence"]`, and every answer of a motion
    `metrics["consistency"]`."""
    model.eval()
    pipeline = MoChatPipeline(model, max_new_tokens=max_new_tokens)
    rows = read_dialogues(dialogues, split, limit_per_task=per_task, seed=seed)
    if tasks is not None:
        rows = [r for r in rows if r["task"] in tasks]
    if mirror:
        rows = [mirror_dialogue(r) for r in rows]
    features = encode_corpus(model.encoder, corpus_dir, (r["motion_id"] for r in rows),
                             progress=False)
    corpus = HumanML3DCorpus(corpus_dir)
    metrics: dict[str, Any] = {"per_task": per_task, "split": split}
    caption_rows = [r for r in rows if r["task"] in CAPTION_TASKS]
    if caption_rows:
        answers = answer_rows(pipeline, caption_rows, features)
        refs = [caption_refs(corpus, r) for r in caption_rows]
        metrics["captions"] = caption_scores([a.text for a in answers], refs,
                                             bertscore=bertscore)
        metrics["captions_examples"] = [
            {"motion_id": r["motion_id"], "pred": a.text, "ref": ref[0]}
            for r, a, ref in list(zip(caption_rows, answers, refs, strict=True))[:5]]
    scored: list[ChatAnswer] = []  # every answer about a motion, for `consistency`
    gap_rows = [r for r in rows if r["task"] in GAP_TASKS]
    gap_answers: list[ChatAnswer] = []
    if gap_rows:
        answers = gap_answers = answer_rows(pipeline, gap_rows, features)
        texts, gold = [a.text for a in answers], [gap_gold(r) for r in gap_rows]
        metrics["spatial"] = {"accuracy": spatial_accuracy(texts, gold), "by_kind": {}}
        if not mirror:
            metrics["spatial"]["motion_mirrored"] = _motion_mirrored(
                model, pipeline, corpus_dir, gap_rows, texts, features)
        # what the question blanks (synthetic corpus: after a turn, turn, side step, other)
        for kind, picked in kind_groups(gap_kinds(gap_rows, corpus_dir)).items():
            metrics["spatial"]["by_kind"][kind] = {
                "questions": len(picked),
                "accuracy": spatial_accuracy([texts[k] for k in picked],
                                             [gold[k] for k in picked])}
    temporal_rows = [r for r in rows if r["task"] in TEMPORAL_TASKS and r.get("span")]
    temporal_answers: list[ChatAnswer] = []
    if temporal_rows:
        answers = temporal_answers = answer_rows(pipeline, temporal_rows, features)
        gts = [(float(r["span"][0]), float(r["span"][1])) for r in temporal_rows]
        metrics["temporal"] = temporal_recall(_spans_of(answers), gts, iou=frame_iou)
        metrics["temporal"]["unanswered"] = sum(a.span is None for a in answers)
    scored += [*gap_answers, *temporal_answers]
    if followups and (gap_rows or temporal_rows):
        metrics["followup"], answers = _followups(
            pipeline, dialogues, split, [*gap_rows, *temporal_rows],
            [*gap_answers, *temporal_answers], features, mirror, seed)
        scored += answers
    absent_rows = [r for r in rows if r["task"] in ABSENT_TASKS]
    present_rows = [r for r in rows if r["task"] in PRESENT_TASKS]
    if absent_rows or present_rows:
        absent = answer_rows(pipeline, absent_rows, features)
        present = answer_rows(pipeline, present_rows, features)
        metrics["presence"] = presence_metrics(absent_rows, absent, present_rows, present,
                                               temporal_answers)
        scored += [*absent, *present]
    if scored:
        metrics["consistency"] = consistency(scored)
    if baselines:
        metrics["baselines"] = baseline_metrics(
            corpus_dir, dialogues, gap_rows=gap_rows, temporal_rows=temporal_rows,
            caption_rows=caption_rows,
            caption_refs=[caption_refs(corpus, r) for r in caption_rows])
    no_motion = torch.zeros(0, model.encoder.feature_dim)
    # "Who are you?": held out of every training dialogue; a sensible answer says what it is
    question = HELD_OUT_QUESTIONS[0]
    chat = pipeline.answer_batch([(Conversation(no_motion), question)])[0]
    metrics["who_are_you"] = chat.text
    metrics["who_are_you_names_mochat"] = "mochat" in chat.text.lower()
    return metrics
