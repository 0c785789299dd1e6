import pytest

from mochat.metrics import baselines as base
from mochat.metrics import frame_iou, temporal_recall


def test_equal_split_cuts_equal_inclusive_parts():
    assert base.equal_split(100, 4, 0) == (0, 24)
    assert base.equal_split(100, 4, 3) == (75, 99)  # the last part ends on the last frame
    assert base.equal_split(3, 4, 0) == (0, 0)  # fewer frames than parts: one frame each
    with pytest.raises(ValueError):
        base.equal_split(100, 4, 4)


def test_equal_split_scores_evenly_spaced_actions_perfectly():
    # two actions that fill halves of a 40-frame motion: structure alone finds both
    gts = [(0, 19), (20, 39)]
    preds = [base.equal_split(40, 2, k) for k in range(2)]
    assert temporal_recall(preds, gts, iou=frame_iou)["r1_iou_0.7"] == 100.0


def test_whole_motion_and_mean_span():
    assert base.whole_motion(50) == (0, 49)
    fractions = base.mean_fractions([(10, 30), (30, 70)], [100, 100])  # (0.2, 0.5)
    assert fractions == pytest.approx((0.2, 0.5))
    assert base.mean_span(50, fractions) == (10, 25)


def test_majority_side_and_nearest_caption():
    assert base.majority_side(["left", "right", "right"]) == "right"
    assert base.majority_side(["left", "right"]) == "left"  # a tie goes to left
    pool = {"a": (["walk", "wave"], "walks and waves"), "b": (["kick"], "kicks")}
    assert base.nearest_caption(["kick", "jump"], pool) == "kicks"  # overlap 1/2 vs 0
