"""The trivial baselines of `mochat.metrics.baselines` scored on the evaluator's sample.

`baseline_metrics` answers the same test rows `evaluate_model` answers, without the motion,
fitting what needs fitting (majority side, mean span, the caption pool) on the training
split only, and returns the same keys as the model's metrics so the two sit side by side.
A corpus without ground-truth spans (real HumanML3D) gets no equal-split row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mochat.metrics import baselines as base
from mochat.metrics import caption_scores, frame_iou, spatial_accuracy, temporal_recall
from mochat.skeleton import HumanML3DCorpus
from training.lm_data import MIRROR_SUFFIX, first_turn, read_dialogues


def _gold_side(row: dict) -> str:
    return first_turn(row)[1].strip().rstrip(".").lower()


def _frames(corpus: HumanML3DCorpus, motion_id: str) -> int:
    import numpy as np

    path = corpus.joints_dir / f"{motion_id.removesuffix(MIRROR_SUFFIX)}.npy"
    return int(np.load(path, mmap_mode="r").shape[0])


def _temporal(corpus: HumanML3DCorpus, rows: Sequence[dict], train: Sequence[dict]
              ) -> dict[str, dict[str, float]]:
    gts = [(int(r["span"][0]), int(r["span"][1])) for r in rows]
    lengths = [_frames(corpus, r["motion_id"]) for r in rows]
    fit = [r for r in train if r.get("span")]
    fractions = base.mean_fractions([(int(r["span"][0]), int(r["span"][1])) for r in fit],
                                    [_frames(corpus, r["motion_id"]) for r in fit])
    out = {"whole_motion": temporal_recall([base.whole_motion(t) for t in lengths], gts,
                                           iou=frame_iou),
           "mean_span": temporal_recall([base.mean_span(t, fractions) for t in lengths], gts,
                                        iou=frame_iou)}
    split = []
    for row, gt, frames in zip(rows, gts, lengths, strict=True):
        spans = corpus.spans(row["motion_id"].removesuffix(MIRROR_SUFFIX))
        if not spans:
            return out  # no ground-truth actions: the count and order are unknown
        order = sorted((s.start, s.end) for s in spans)
        index = order.index(gt) if gt in order else 0
        split.append(base.equal_split(frames, len(order), index))
    out["equal_split"] = temporal_recall(split, gts, iou=frame_iou)
    return out


def _captions(corpus: HumanML3DCorpus, rows: Sequence[dict], train: Sequence[dict],
              refs: Sequence[Sequence[str]]) -> dict[str, float] | None:
    pool: dict[str, tuple[list[str], str]] = {}
    for row in train:
        motion_id = row["motion_id"]
        spans = corpus.spans(motion_id) if motion_id and MIRROR_SUFFIX not in motion_id \
            else None
        if spans and motion_id not in pool:
            pool[motion_id] = ([s.action for s in spans], first_turn(row)[1])
    if not pool:
        return None
    preds = []
    for row in rows:
        spans = corpus.spans(row["motion_id"].removesuffix(MIRROR_SUFFIX)) or []
        preds.append(base.nearest_caption([s.action for s in spans], pool))
    return caption_scores(preds, refs)


def baseline_metrics(corpus_dir: str | Path, dialogues: str | Path, *,
                     gap_rows: Sequence[dict] = (), temporal_rows: Sequence[dict] = (),
                     caption_rows: Sequence[dict] = (),
                     caption_refs: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
    """Baseline figures (x100) for the rows the model was scored on."""
    corpus = HumanML3DCorpus(corpus_dir)
    train = read_dialogues(dialogues, "train")
    out: dict[str, Any] = {}
    if gap_rows:
        side = base.majority_side([_gold_side(r) for r in train if r["task"] == "spatial_gap"])
        out["spatial"] = {"majority_side": spatial_accuracy(
            [side] * len(gap_rows), [_gold_side(r) for r in gap_rows]), "side": side}
    if temporal_rows:
        out["temporal"] = _temporal(corpus, temporal_rows,
                                    [r for r in train if r["task"] == "temporal"])
    if caption_rows:
        scores = _captions(corpus, caption_rows, [r for r in train if r["task"] == "basic"],
                           caption_refs)
        if scores is not None:
            out["captions"] = {"nearest_caption": scores}
    return out
