"""Why a frame goes to the dead-letter topic: reasons, and the stateless checks of a frame.

Stateful checks (a frame number that jumps absurdly far from the stream's latest, a layout
that changes mid-stream) live in the windower, which knows the stream; they return the same
`Rejection`. Everything here is pure: no Kafka, no protobuf.

Sizes are checked before anything is decoded (`check_record_size`): a record over
`max_record_bytes`, a key longer than a stream id may be, or headers over
`max_header_bytes` go to the dead-letter topic undecoded. Then a decoded frame's strings are
bounded (`max_stream_id_chars`, `max_layout_chars`), so no client string ever reaches a
window id, a features record or a log line at any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mochat.errors import UnknownLayoutError
from mochat.log import clip
from mochat.skeleton import SkeletonLayout, get_layout
from mochat.skeleton.layout import LAYOUT_FILE_SUFFIXES

MAX_FPS = 1000.0  # the encoder service's limit too
MAX_FRAME_INDEX = 2**63 - 1  # int64, the wire type of a frame number


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
    TOO_LARGE = "too_large"  # record, key or headers over their byte limits: never decoded
    TOO_LONG = "too_long"  # stream id or layout name over its length limit
    KEY_MISMATCH = "key_mismatch"  # record key is not the frame's stream id
    FEATURES_TOO_LARGE = "features_too_large"  # a window's features over max_request_bytes
    UNPROCESSABLE = "unprocessable"  # handling the record raised (logged with its traceback)


@dataclass(frozen=True)
class Rejection:
    reason: DlqReason
    detail: str


@dataclass(frozen=True)
class FrameLimits:
    """Size limits of a frame record (the ingest settings of the same names)."""

    max_record_bytes: int = 64 * 1024
    max_header_bytes: int = 4 * 1024
    max_stream_id_chars: int = 256
    max_layout_chars: int = 128
    max_batch_frames: int = 512  # frames of one FrameBatch record (4.3 s at 120 fps)


DEFAULT_LIMITS = FrameLimits()


def check_record_size(value: bytes | None, key: bytes | None, header_bytes: int,
                      limits: FrameLimits = DEFAULT_LIMITS) -> Rejection | None:
    """Byte limits of a record, checked before it is decoded; None when it fits.

    A key longer than a stream id may be (4 bytes per character in UTF-8) cannot match one.
    """
    size = len(value or b"")
    if size > limits.max_record_bytes:
        return Rejection(DlqReason.TOO_LARGE, f"record value is {size} bytes, over the limit "
                         f"of {limits.max_record_bytes} (max_record_bytes); not decoded")
    key_size = len(key or b"")
    if key_size > 4 * limits.max_stream_id_chars:
        return Rejection(DlqReason.TOO_LARGE, f"record key is {key_size} bytes, longer than "
                         f"any stream id of at most {limits.max_stream_id_chars} characters")
    if header_bytes > limits.max_header_bytes:
        return Rejection(DlqReason.TOO_LARGE, f"record headers are {header_bytes} bytes, over "
                         f"the limit of {limits.max_header_bytes} (max_header_bytes)")
    return None


def check_key(key: bytes | None, stream_id: str) -> Rejection | None:
    """The record key must be the frame's stream id: the key picks the partition, and a
    stream's windows are built by the one partition that holds all its frames."""
    if key is not None and key == stream_id.encode():
        return None
    shown = "no key" if key is None else f"key {clip(key.decode('utf-8', 'replace'), 64)!r}"
    return Rejection(DlqReason.KEY_MISMATCH, f"record has {shown}, frame has stream_id "
                     f"{clip(stream_id, 64)!r}; frames are keyed by their stream id")


def check_strings(stream_id: str, layout: str,
                  limits: FrameLimits = DEFAULT_LIMITS) -> Rejection | None:
    """Length limits of a frame's strings; the error quotes only their starts."""
    if len(stream_id) > limits.max_stream_id_chars:
        return Rejection(DlqReason.TOO_LONG, f"stream_id {clip(stream_id, 64)!r} is over the "
                         f"limit of {limits.max_stream_id_chars} characters")
    if len(layout) > limits.max_layout_chars:
        return Rejection(DlqReason.TOO_LONG, f"layout {clip(layout, 64)!r} is over the limit "
                         f"of {limits.max_layout_chars} characters")
    return None


def check_frame(stream_id: str, frame_index: int, layout: str, joints: np.ndarray, *,
                fps: float, limits: FrameLimits = DEFAULT_LIMITS) -> Rejection | None:
    """Stateless checks of one decoded frame; None when it is fine. joints: (J, 3).

    Windows are set in seconds and cut in each stream's frames, so every frame must state
    its stream's rate (`Frame.fps`, finite, > 0 and <= MAX_FPS).
    """
    lay = _check_stream("frame", stream_id, layout, fps, limits)
    if isinstance(lay, Rejection):
        return lay
    rejection = check_index(frame_index)
    if rejection is not None:
        return rejection
    if joints.ndim != 2 or joints.shape[1] != 3:
        return Rejection(DlqReason.BAD_SHAPE,
                         f"joints must be (J, 3), got {tuple(joints.shape)}")
    if joints.shape[0] != lay.num_joints:
        return _wrong_joint_count(lay, joints.shape[0])
    if not np.isfinite(joints.sum()):  # NaN/inf anywhere (or values near float32 max)
        return _NON_FINITE
    return None


def check_frames(stream_id: str, first_index: int, layout: str, joints: np.ndarray, *,
                 fps: float, limits: FrameLimits = DEFAULT_LIMITS
                 ) -> Rejection | list[tuple[int, Rejection]]:
    """`check_frame` of every frame of a batch at once. joints: (N, J, 3), frame k is number
    first_index + k.

    What the frames share (stream id, layout, rate, the array's shape, the number of frames:
    1 .. max_batch_frames) is checked once and fails the batch: a Rejection. Then the
    per-frame checks run over the whole block (frame numbers from the first, one finite-sum
    per frame) and give the frames that fail, as (position k, rejection) in ascending k; an
    empty list when every frame is fine.
    """
    lay = _check_stream("frame batch", stream_id, layout, fps, limits)
    if isinstance(lay, Rejection):
        return lay
    if joints.ndim != 3 or joints.shape[2] != 3:
        return Rejection(DlqReason.BAD_SHAPE,
                         f"joints must be (N, J, 3), got {tuple(joints.shape)}")
    n = joints.shape[0]
    if n == 0:
        return Rejection(DlqReason.BAD_SHAPE, "frame batch holds no frames (joints shape "
                         f"{tuple(joints.shape)}); a batch holds N >= 1")
    if n > limits.max_batch_frames:
        return Rejection(DlqReason.TOO_LARGE, f"frame batch holds {n} frames, over the limit "
                         f"of {limits.max_batch_frames} (max_batch_frames)")
    if joints.shape[1] != lay.num_joints:
        return _wrong_joint_count(lay, joints.shape[1])
    bad: dict[int, Rejection] = {}
    if first_index < 0 or first_index + n - 1 > MAX_FRAME_INDEX:  # a few frames at most
        for k in range(n):
            rejection = check_index(first_index + k)
            if rejection is not None:
                bad[k] = rejection
    # One sum per frame, as check_frame sums one frame: the same frames fail.
    finite = np.isfinite(joints.reshape(n, -1).sum(axis=1))  # (N,)
    if not finite.all():
        for k in np.flatnonzero(~finite).tolist():
            bad.setdefault(k, _NON_FINITE)
    return sorted(bad.items())


def _check_stream(what: str, stream_id: str, layout: str, fps: float,
                  limits: FrameLimits) -> SkeletonLayout | Rejection:
    """What a frame or a batch (`what`) says about its stream: id, string sizes, rate and
    layout. The layout, or why the record is a dead letter."""
    if not stream_id:
        return Rejection(DlqReason.MISSING_STREAM_ID, f"{what} has an empty stream_id")
    return check_strings(stream_id, layout, limits) or check_rate_and_layout(fps, layout)


def check_index(frame_index: int) -> Rejection | None:
    if frame_index < 0:
        return Rejection(DlqReason.ABSURD_FRAME_INDEX, f"negative frame index {frame_index}")
    if frame_index > MAX_FRAME_INDEX:  # only a batch can name one (first + k)
        return Rejection(DlqReason.ABSURD_FRAME_INDEX, f"frame index {frame_index} is over "
                         f"the int64 limit {MAX_FRAME_INDEX}")
    return None


def check_rate_and_layout(fps: float, layout: str) -> SkeletonLayout | Rejection:
    """The stream's rate and its layout (a registered name): the layout, or why not."""
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        return Rejection(DlqReason.BAD_FPS, f"fps must be a finite rate in (0, {MAX_FPS:g}], "
                         f"got {fps!r}")
    if layout.lower().endswith(LAYOUT_FILE_SUFFIXES):  # names only: no frame opens a file
        return Rejection(DlqReason.UNKNOWN_LAYOUT, f"layout {layout!r} is a file name; frames "
                         "name a registered layout")
    try:
        return get_layout(layout)
    except UnknownLayoutError as err:
        return Rejection(DlqReason.UNKNOWN_LAYOUT, str(err))


def _wrong_joint_count(lay: SkeletonLayout, got: int) -> Rejection:
    return Rejection(DlqReason.WRONG_JOINT_COUNT,
                     f"layout {lay.name!r} has {lay.num_joints} joints, frame has {got}")


_NON_FINITE = Rejection(DlqReason.NON_FINITE, "joints contain NaN or inf")
