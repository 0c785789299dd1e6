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


def test_sizes_are_checked_before_decoding() -> None:
    from ingest.validation import FrameLimits, check_record_size

    limits = FrameLimits(max_record_bytes=1024, max_header_bytes=100, max_stream_id_chars=8)
    assert check_record_size(b"x" * 1024, b"k" * 32, 100, limits) is None  # all at the limit
    over = [check_record_size(b"x" * 1025, b"k", 0, limits),  # value
            check_record_size(b"x", b"k" * 33, 0, limits),  # key: 4 bytes x 8 characters
            check_record_size(b"x", b"k", 101, limits)]  # headers
    assert [r.reason for r in over] == [DlqReason.TOO_LARGE] * 3
    assert "1025 bytes, over the limit of 1024" in over[0].detail


def test_strings_over_their_limits_are_too_long_and_quoted_only_in_part() -> None:
    rej = check_frame("s" * 1_000_000, 0, "smpl22", GOOD, fps=20.0)
    assert rej is not None and rej.reason is DlqReason.TOO_LONG and len(rej.detail) < 200
    rej = check_frame("s", 0, "x" * 129, GOOD, fps=20.0)
    assert rej is not None and rej.reason is DlqReason.TOO_LONG
    assert check_frame("s" * 256, 0, "smpl22", GOOD, fps=20.0) is None  # 256 is allowed


def test_the_key_must_be_the_stream_id() -> None:
    from ingest.validation import check_key

    assert check_key(b"cam1", "cam1") is None
    assert check_key("käfer".encode(), "käfer") is None  # UTF-8 both ways
    for key in (b"cam2", None, b"cam1 "):
        rej = check_key(key, "cam1")
        assert rej is not None and rej.reason is DlqReason.KEY_MISMATCH
