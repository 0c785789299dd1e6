"""Per-task metrics of `mochat batch` result rows that carry ground truth (`gold`).

The same functions and the same reductions as `training.lm_eval.evaluate_model`:
`caption_scores` over the caption rows, `spatial_accuracy` (and by gap kind, grouped with
`kind_groups`) over the gap rows, `temporal_recall` with `frame_iou` over the temporal rows
(a row without a span scores as (-1, -1), and counts as unanswered). Every metric is a
corpus figure of the rows given, so a merge recomputes them from all shards' rows rather
than averaging the shards' (CIDEr's document frequencies span the whole set).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mochat.dialogue.rows import kind_groups


def task_metrics(rows: Iterable[dict[str, Any]], *, bertscore: bool = True
                 ) -> dict[str, Any] | None:
    """{"captions": ..., "spatial": ..., "temporal": ..., "questions": {...}} of the rows
    with ground truth; None when no row has any. Rows that failed (`error`) are counted,
    not scored."""
    from mochat.metrics import caption_scores, frame_iou, spatial_accuracy, temporal_recall

    scored = [r for r in rows if r.get("gold")]
    if not scored:
        return None
    failed = [r for r in scored if r.get("error")]
    ok = [r for r in scored if not r.get("error")]
    captions = [r for r in ok if "refs" in r["gold"]]
    gaps = [r for r in ok if "side" in r["gold"]]
    temporal = [r for r in ok if "span" in r["gold"]]
    metrics: dict[str, Any] = {
        "questions": {"captions": len(captions), "spatial": len(gaps),
                      "temporal": len(temporal), "failed": len(failed)}}
    if captions:
        metrics["captions"] = caption_scores([r["answer"] for r in captions],
                                             [r["gold"]["refs"] for r in captions],
                                             bertscore=bertscore)
    if gaps:

        texts, gold = [r["answer"] for r in gaps], [r["gold"]["side"] for r in gaps]
        metrics["spatial"] = {"accuracy": spatial_accuracy(texts, gold), "by_kind": {}}
        for kind, picked in kind_groups([r["gold"].get("kind") for r in gaps]).items():
            metrics["spatial"]["by_kind"][kind] = {
                "questions": len(picked),
                "accuracy": spatial_accuracy([texts[k] for k in picked],
                                             [gold[k] for k in picked])}
    if temporal:
        preds = [(r["span"]["start"], r["span"]["end"]) if r["span"] else (-1.0, -1.0)
                 for r in temporal]
        gts = [(float(r["gold"]["span"][0]), float(r["gold"]["span"][1])) for r in temporal]
        metrics["temporal"] = temporal_recall(preds, gts, iou=frame_iou)
        metrics["temporal"]["unanswered"] = sum(r["span"] is None for r in temporal)
    return metrics
