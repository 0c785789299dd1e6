"""Stateless frame checks: one case per dead-letter reason."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.validation import DlqReason, check_frame

GOOD = np.zeros((22, 3), dtype=np.float32)  # SMPL-22 has 22 joints


def test_good_frame_passes() -> None:
    assert check_frame("cam1", 0, "smpl22", GOOD, fps=20.0) is None
    assert check_frame("cam1", 5, "humanml3d", GOOD, fps=120.0) is None  # an alias of smpl22


@pytest.mark.parametrize(("args", "reason"), [
    (("", 0, "smpl22", GOOD), DlqReason.MISSING_STREAM_ID),
    (("s", -3, "smpl22", GOOD), DlqReason.ABSURD_FRAME_INDEX),
    (("s", 0, "octopus8", GOOD), DlqReason.UNKNOWN_LAYOUT),
    (("s", 0, "smpl22", np.zeros((22, 2), np.float32)), DlqReason.BAD_SHAPE),
    (("s", 0, "smpl22", np.zeros((25, 3), np.float32)), DlqReason.WRONG_JOINT_COUNT),
    (("s", 0, "ntu25", GOOD), DlqReason.WRONG_JOINT_COUNT),
    (("s", 0, "smpl22", np.where(np.arange(66).reshape(22, 3) == 7, np.nan, 0.0)),
     DlqReason.NON_FINITE),
    (("s", 0, "/etc/layout.yaml", GOOD), DlqReason.UNKNOWN_LAYOUT),  # names, never files
    (("s", 0, "smpl22", GOOD, 0.0), DlqReason.BAD_FPS),  # a producer that sets no rate
    (("s", 0, "smpl22", GOOD, float("nan")), DlqReason.BAD_FPS),
    (("s", 0, "smpl22", GOOD, float("inf")), DlqReason.BAD_FPS),
    (("s", 0, "smpl22", GOOD, 5000.0), DlqReason.BAD_FPS),
])
def test_each_reason(args, reason) -> None:
    *positional, fps = args if len(args) == 5 else (*args, 20.0)
    rej = check_frame(*positional, fps=fps)
    assert rej is not None and rej.reason is reason and rej.detail
