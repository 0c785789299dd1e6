"""Stateless frame checks: one case per dead-letter reason."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.validation import DlqReason, check_frame

GOOD = np.zeros((22, 3), dtype=np.float32)  # SMPL-22 has 22 joints


def test_good_frame_passes() -> None:
    assert check_frame("cam1", 0, "smpl22", GOOD) is None
    assert check_frame("cam1", 5, "humanml3d", GOOD) is None  # an alias of smpl22


@pytest.mark.parametrize(("args", "reason"), [
    (("", 0, "smpl22", GOOD), DlqReason.MISSING_STREAM_ID),
    (("s", -3, "smpl22", GOOD), DlqReason.ABSURD_FRAME_INDEX),
    (("s", 0, "octopus8", GOOD), DlqReason.UNKNOWN_LAYOUT),
    (("s", 0, "smpl22", np.zeros((22, 2), np.float32)), DlqReason.BAD_SHAPE),
    (("s", 0, "smpl22", np.zeros((25, 3), np.float32)), DlqReason.WRONG_JOINT_COUNT),
    (("s", 0, "ntu25", GOOD), DlqReason.WRONG_JOINT_COUNT),
    (("s", 0, "smpl22", np.where(np.arange(66).reshape(22, 3) == 7, np.nan, 0.0)),
     DlqReason.NON_FINITE),
])
def test_each_reason(args, reason) -> None:
    rej = check_frame(*args)
    assert rej is not None and rej.reason is reason and rej.detail
