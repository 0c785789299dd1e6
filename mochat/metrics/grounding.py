"""Spatial limb grounding (left/right accuracy) and temporal action grounding (R@1 at IoU).

Protocols follow the MoChat paper's released evaluation files (Tables 3 and 4):
- spatial: lowercase and strip; an answer that is neither word counts as `left` when it
  contains only "left", `right` when it contains only "right", else it is wrong.
- temporal: IoU of two 1-D intervals, union = max end - min start (0 when empty);
  R@1 at IoU t = share of queries with IoU >= t. That is the paper's IoU, for its answer
  files (continuous spans); spans of inclusive frame numbers, as the model, the pipeline
  and the synthetic corpus give them, are scored with `frame_iou` instead, which counts
  frames: under `interval_iou` the same one-frame span (5, 5) twice scores 0.
All scores are percentages (x100), as in the paper's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

DEFAULT_IOU_THRESHOLDS = (0.3, 0.5, 0.7)

Span = tuple[float, float]


def interval_iou(a: Span, b: Span) -> float:
    """IoU of two closed 1-D intervals [start, end]; 0.0 when the union is empty.

    >>> interval_iou((0, 10), (5, 15))  # overlap 5, union 15
    0.3333333333333333
    """
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return float(inter / union) if union > 0 else 0.0


def frame_iou(a: Span, b: Span) -> float:
    """IoU of two spans of inclusive integer frames: (s, e) holds e - s + 1 frames.

    >>> frame_iou((5, 5), (5, 5))  # the same single frame
    1.0
    >>> frame_iou((0, 9), (5, 14))  # frames 5..9 shared, 0..14 in either
    0.3333333333333333
    """
    len_a, len_b = a[1] - a[0] + 1, b[1] - b[0] + 1
    if len_a <= 0 or len_b <= 0:  # a reversed span holds no frames
        return 0.0
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    return float(inter / (len_a + len_b - inter))


def recall_key(threshold: float) -> str:
    """The JSON key of R@1 at one IoU threshold: 0.5 -> 'r1_iou_0.5'."""
    return f"r1_iou_{threshold:g}"


def temporal_recall(pred_spans: Sequence[Span], gt_spans: Sequence[Span],
                    thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS, *,
                    iou: Callable[[Span, Span], float] = interval_iou) -> dict[str, float]:
    """R@1 at each IoU threshold (x100), plus `mean_iou` (x100), over aligned span lists.

    `iou`: `interval_iou` (the default) for continuous spans such as the paper's answer
    files; `frame_iou` for spans of inclusive frame numbers."""
    if len(pred_spans) != len(gt_spans):
        raise ValueError(f"{len(pred_spans)} predicted spans but {len(gt_spans)} ground-truth")
    if not gt_spans:
        raise ValueError("no spans to score")
    ious = [iou(p, g) for p, g in zip(pred_spans, gt_spans, strict=True)]
    scores = {recall_key(t): 100.0 * sum(iou >= t for iou in ious) / len(ious)
              for t in thresholds}
    scores["mean_iou"] = 100.0 * sum(ious) / len(ious)
    return scores


def parse_side(answer: str) -> str | None:
    """A free-text answer -> 'left', 'right', or None when it names neither or both."""
    text = answer.strip().lower()
    if text in ("left", "right"):
        return text
    has_left, has_right = "left" in text, "right" in text
    if has_left != has_right:
        return "left" if has_left else "right"
    return None


def spatial_accuracy(preds: Sequence[str], answers: Sequence[str]) -> float:
    """Share (x100) of free-text answers whose side matches the gold `left`/`right`."""
    if len(preds) != len(answers):
        raise ValueError(f"{len(preds)} answers but {len(answers)} questions")
    if not answers:
        raise ValueError("no answers to score")
    correct = sum(parse_side(p) == a.strip().lower()
                  for p, a in zip(preds, answers, strict=True))
    return 100.0 * correct / len(answers)
