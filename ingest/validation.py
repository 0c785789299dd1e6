"""Why a frame goes to the dead-letter topic: reasons, and the stateless checks of a frame.

Stateful checks (a frame number that jumps absurdly far from the stream's latest, a layout
that changes mid-stream) live in the windower, which knows the stream; they return the same
`Rejection`. Everything here is pure: no Kafka, no protobuf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mochat.errors import UnknownLayoutError
from mochat.skeleton import get_layout
from mochat.skeleton.layout import LAYOUT_FILE_SUFFIXES

MAX_FPS = 1000.0  # the encoder service's limit too


class DlqReason(StrEnum):
    """The `reason` header of a dead-lettered record."""

    UNDECODABLE = "undecodable"
    MISSING_STREAM_ID = "missing_stream_id"
    UNKNOWN_LAYOUT = "unknown_layout"
    BAD_SHAPE = "bad_shape"
    WRONG_JOINT_COUNT = "wrong_joint_count"
    NON_FINITE = "non_finite"
    ABSURD_FRAME_INDEX = "absurd_frame_index"
    LAYOUT_CHANGED = "layout_changed"
    BAD_FPS = "bad_fps"
    FPS_CHANGED = "fps_changed"


@dataclass(frozen=True)
class Rejection:
    reason: DlqReason
    detail: str


def check_frame(stream_id: str, frame_index: int, layout: str, joints: np.ndarray, *,
                fps: float) -> Rejection | None:
    """Stateless checks of one decoded frame; None when it is fine. joints: (J, 3).

    Windows are set in seconds and cut in each stream's frames, so every frame must state
    its stream's rate (`Frame.fps`, finite, > 0 and <= MAX_FPS).
    """
    if not stream_id:
        return Rejection(DlqReason.MISSING_STREAM_ID, "frame has an empty stream_id")
    if frame_index < 0:
        return Rejection(DlqReason.ABSURD_FRAME_INDEX, f"negative frame index {frame_index}")
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        return Rejection(DlqReason.BAD_FPS, f"fps must be a finite rate in (0, {MAX_FPS:g}], "
                         f"got {fps!r}")
    if layout.lower().endswith(LAYOUT_FILE_SUFFIXES):  # names only: no frame opens a file
        return Rejection(DlqReason.UNKNOWN_LAYOUT, f"layout {layout!r} is a file name; frames "
                         "name a registered layout")
    try:
        lay = get_layout(layout)
    except UnknownLayoutError as err:
        return Rejection(DlqReason.UNKNOWN_LAYOUT, str(err))
    if joints.ndim != 2 or joints.shape[1] != 3:
        return Rejection(DlqReason.BAD_SHAPE,
                         f"joints must be (J, 3), got {tuple(joints.shape)}")
    if joints.shape[0] != lay.num_joints:
        return Rejection(DlqReason.WRONG_JOINT_COUNT, f"layout {lay.name!r} has "
                         f"{lay.num_joints} joints, frame has {joints.shape[0]}")
    if not np.isfinite(joints.sum()):  # NaN/inf anywhere (or values near float32 max)
        return Rejection(DlqReason.NON_FINITE, "joints contain NaN or inf")
    return None
