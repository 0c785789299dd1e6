import pytest

from mochat.metrics.grounding import (
    frame_iou,
    interval_iou,
    parse_side,
    recall_key,
    spatial_accuracy,
    temporal_recall,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 10), (5, 15), 5 / 15),  # overlap [5, 10], union [0, 15]
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (20, 30), 0.0),  # disjoint: no overlap
        ((0, 10), (10, 20), 0.0),  # touching at one point: zero-length overlap
        ((2, 4), (0, 10), 2 / 10),  # contained
        ((5, 5), (5, 5), 0.0),  # empty union
    ],
)
def test_interval_iou(a, b, expected):
    assert interval_iou(a, b) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((5, 5), (5, 5), 1.0),  # the same one frame: interval_iou says 0 (empty union)
        ((0, 9), (0, 9), 1.0),
        ((0, 9), (5, 14), 5 / 15),  # frames 5..9 shared, 0..14 in either
        ((0, 9), (9, 18), 1 / 19),  # frame 9 is in both
        ((0, 9), (10, 19), 0.0),  # adjacent, no frame shared
        ((2, 3), (0, 9), 2 / 10),  # contained
        ((-1, -1), (0, 9), 0.0),  # lm_eval's "no span" placeholder
        ((5, 4), (0, 9), 0.0),  # reversed: no frames
    ],
)
def test_frame_iou_counts_inclusive_frames(a, b, expected):
    assert frame_iou(a, b) == pytest.approx(expected)


def test_temporal_recall_of_inclusive_frames():
    # one-frame spans found exactly: 100 with frame_iou, 0 with the continuous default
    preds = gt = [(3, 3), (7, 7)]
    assert temporal_recall(preds, gt, iou=frame_iou)["r1_iou_0.7"] == pytest.approx(100.0)
    assert temporal_recall(preds, gt)["r1_iou_0.7"] == pytest.approx(0.0)


def test_temporal_recall_counts_thresholds_inclusively():
    gt = [(0, 10)] * 4
    # IoUs: 1.0, 0.5 (exactly at the 0.5 threshold), 0.3 ([0,3] in [0,10]), 0.0
    preds = [(0, 10), (0, 5), (0, 3), (20, 30)]
    scores = temporal_recall(preds, gt)
    assert scores["r1_iou_0.3"] == pytest.approx(75.0)  # 3 of 4
    assert scores["r1_iou_0.5"] == pytest.approx(50.0)  # 2 of 4
    assert scores["r1_iou_0.7"] == pytest.approx(25.0)  # 1 of 4
    assert scores["mean_iou"] == pytest.approx(100 * (1.0 + 0.5 + 0.3) / 4)


def test_temporal_recall_rejects_misaligned_lists():
    with pytest.raises(ValueError, match="2 predicted spans but 1"):
        temporal_recall([(0, 1), (0, 1)], [(0, 1)])


def test_recall_key():
    assert recall_key(0.5) == "r1_iou_0.5"
    assert recall_key(0.7) == "r1_iou_0.7"


@pytest.mark.parametrize(
    ("answer", "side"),
    [
        ("left", "left"),
        ("  Right\n", "right"),
        ("Left.", "left"),  # contains only "left"
        ("the right hand", "right"),
        ("left or right", None),  # names both: wrong
        ("neither", None),
        ("", None),
    ],
)
def test_parse_side(answer, side):
    assert parse_side(answer) == side


def test_spatial_accuracy():
    # correct, correct (normalised), wrong side, ambiguous -> 2 of 4
    preds = ["left", "RIGHT.", "left", "left and right"]
    answers = ["left", "right", "right", "left"]
    assert spatial_accuracy(preds, answers) == pytest.approx(50.0)
