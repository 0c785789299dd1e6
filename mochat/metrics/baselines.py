"""Trivial baselines: what structure alone scores, to stand beside every model figure.

A metric means nothing without them. Each answers a task without reading the motion:

- temporal: `equal_split` (the motion cut into equal parts, given how many actions it has
  and which one is asked: the order is in the question), `whole_motion` (every answer is
  the whole motion), `mean_span` (the training split's mean start and end, as fractions of
  the motion's length);
- left/right: `majority_side` (the training split's more common gold side);
- captions: `nearest_caption` (the caption of the training motion whose action labels are
  the most alike, by Jaccard overlap of the label sets; ties to the first).
Spans are inclusive frame numbers, as the model's answers are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

Span = tuple[int, int]


def equal_split(num_frames: int, count: int, index: int) -> Span:
    """The `index`-th of `count` equal parts of frames 0..num_frames-1.

    >>> equal_split(100, 4, 1)  # the second quarter
    (25, 49)
    """
    if not 0 <= index < count or num_frames < 1:
        raise ValueError(f"need 0 <= index < count and frames >= 1, got {index}/{count}, "
                         f"{num_frames} frames")
    start = index * num_frames // count
    end = (index + 1) * num_frames // count - 1
    return start, max(start, end)


def whole_motion(num_frames: int) -> Span:
    return 0, num_frames - 1


def mean_fractions(spans: Sequence[Span], lengths: Sequence[int]) -> tuple[float, float]:
    """Mean (start / T, end / T) over training spans, the `mean_span` baseline's fit."""
    if not spans or len(spans) != len(lengths):
        raise ValueError("need one length per training span, and at least one span")
    starts = [s / t for (s, _), t in zip(spans, lengths, strict=True)]
    ends = [e / t for (_, e), t in zip(spans, lengths, strict=True)]
    return sum(starts) / len(starts), sum(ends) / len(ends)


def mean_span(num_frames: int, fractions: tuple[float, float]) -> Span:
    """The training mean span scaled to a motion of `num_frames`.

    >>> mean_span(200, (0.1, 0.5))
    (20, 100)
    """
    start = min(num_frames - 1, round(fractions[0] * num_frames))
    return start, max(start, min(num_frames - 1, round(fractions[1] * num_frames)))


def majority_side(training_sides: Sequence[str]) -> str:
    """The more common of 'left' / 'right' among training gold answers ('left' on a tie)."""
    counts = Counter(s for s in training_sides if s in ("left", "right"))
    return "right" if counts["right"] > counts["left"] else "left"


def nearest_caption(labels: Sequence[str], training: Mapping[str, tuple[Sequence[str], str]]
                    ) -> str:
    """The caption of the training motion whose label set overlaps `labels` most (Jaccard).

    `training` maps motion id -> (its action labels, one of its captions).
    """
    if not training:
        raise ValueError("no training motions to take a caption from")
    wanted = set(labels)

    def overlap(item: tuple[str, tuple[Sequence[str], str]]) -> float:
        theirs = set(item[1][0])
        union = wanted | theirs
        return len(wanted & theirs) / len(union) if union else 0.0

    return max(training.items(), key=overlap)[1][1]
