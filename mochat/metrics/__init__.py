"""Evaluation metrics of the paper's three tasks, as an in-Python API and `mochat eval`.

All task scores are percentages (x100), keyed as in `mochat eval ... --json`.
pycocoevalcap (extra `eval`) is imported only when caption scores are computed, and
torch/transformers only for `bertscore_minilm`.
"""

from mochat.metrics.captions import CAPTION_KEYS, caption_scores
from mochat.metrics.files import (
    GapQuestion,
    parse_span,
    read_answers,
    read_captions,
    read_gap_questions,
    read_spans,
)
from mochat.metrics.grounding import (
    DEFAULT_IOU_THRESHOLDS,
    frame_iou,
    interval_iou,
    parse_side,
    recall_key,
    spatial_accuracy,
    temporal_recall,
)

__all__ = [
    "CAPTION_KEYS", "DEFAULT_IOU_THRESHOLDS", "GapQuestion", "caption_scores", "frame_iou",
    "interval_iou", "parse_side", "parse_span", "read_answers", "read_captions",
    "read_gap_questions", "read_spans", "recall_key", "spatial_accuracy", "temporal_recall",
]
