"""Evaluate a MoChat model on the test dialogues: the paper's three tasks.

- captions: the basic-understanding questions, scored against all captions of what the
  model was shown: the motion's whole-motion captions, or for a dialogue about one segment
  ("frames") the captions of that segment (BLEU@1/4, ROUGE-L, CIDEr, MiniLM-BERTScore);
- spatial: gap-filling left/right accuracy;
- temporal: R@1 at IoU 0.3/0.5/0.7 (head spans for MoChat-R, parsed text otherwise), the
  IoU over inclusive frame numbers (`frame_iou`): answers and ground truth are both frames;
- chat: the answer to "Who are you?", to check general chat survived fine-tuning.
Answers are generated in small batches with the same pipeline the service uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mochat.dialogue.build import caption_segments
from mochat.dialogue.general import HELD_OUT_QUESTIONS
from mochat.metrics import caption_scores, frame_iou, spatial_accuracy, temporal_recall
from mochat.models.mochat import MoChat
from mochat.pipeline import Conversation, MoChatPipeline
from mochat.skeleton import HumanML3DCorpus
from training.eval_baselines import baseline_metrics
from training.lm_data import (
    encode_corpus,
    first_turn,
    gap_kinds,
    kind_groups,
    load_record,
    mirror_dialogue,
    read_dialogues,
    row_features,
)

CAPTION_TASKS = ("basic",)
GAP_TASKS = ("spatial_gap",)
TEMPORAL_TASKS = ("temporal",)


def gap_gold(row: dict) -> str:
    """A gap dialogue's gold side ('left' / 'right'), as answers are scored against it."""
    return first_turn(row)[1].strip().rstrip(".").lower()


def caption_refs(corpus: HumanML3DCorpus, row: dict) -> list[str]:
    """The captions a basic dialogue is scored against: those of the same frames (the whole
    motion, or the row's "frames"), so a segment's caption never scores the whole motion."""
    frames = None if row.get("frames") is None else tuple(row["frames"])
    return [text for text, segment in caption_segments(load_record(corpus, row["motion_id"]))
            if segment == frames]


def answer_rows(pipeline: MoChatPipeline, rows: Sequence[dict], features: dict[str, torch.Tensor],
                *, batch_size: int = 8) -> list[Any]:
    out = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        items = [(Conversation(row_features(r, features)), first_turn(r)[0]) for r in chunk]
        out.extend(pipeline.answer_batch(items))
    return out


def evaluate_model(model: MoChat, corpus_dir: str | Path, dialogues: str | Path, *,
                   per_task: int = 40, max_new_tokens: int = 40, seed: int = 0,
                   bertscore: bool = True, tasks: Sequence[str] | None = None,
                   mirror: bool = False, split: str = "test",
                   baselines: bool = True) -> dict[str, Any]:
    """Metrics (x100) per task on up to `per_task` test dialogues of each task; `tasks`
    keeps some tasks of that same sample (e.g. the cheap spatial_gap and temporal ones).
    `mirror` scores the same sample on the motions' mirror images (side words swapped): a
    model that reads the side from the motion scores about the same on both. `split` picks
    the dialogues (default the test split; "val" to check a choice made on the test split).
    `baselines` adds what structure alone scores on the same rows (`metrics["baselines"]`,
    training/eval_baselines.py), to read every figure against."""
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
    gap_rows = [r for r in rows if r["task"] in GAP_TASKS]
    if gap_rows:
        answers = answer_rows(pipeline, gap_rows, features)
        texts, gold = [a.text for a in answers], [gap_gold(r) for r in gap_rows]
        metrics["spatial"] = {"accuracy": spatial_accuracy(texts, gold), "by_kind": {}}
        # what the question blanks (synthetic corpus: after a turn, turn, side step, other)
        for kind, picked in kind_groups(gap_kinds(gap_rows, corpus_dir)).items():
            metrics["spatial"]["by_kind"][kind] = {
                "questions": len(picked),
                "accuracy": spatial_accuracy([texts[k] for k in picked],
                                             [gold[k] for k in picked])}
    temporal_rows = [r for r in rows if r["task"] in TEMPORAL_TASKS and r.get("span")]
    if temporal_rows:
        answers = answer_rows(pipeline, temporal_rows, features)
        preds = [(a.span.start, a.span.end) if a.span else (-1.0, -1.0) for a in answers]
        gts = [(float(r["span"][0]), float(r["span"][1])) for r in temporal_rows]
        metrics["temporal"] = temporal_recall(preds, gts, iou=frame_iou)
        metrics["temporal"]["unanswered"] = sum(a.span is None for a in answers)
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
