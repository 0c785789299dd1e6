"""Kafka record bytes <-> the windower's types: `mochat.v1.Frame` in, `MotionWindow` out."""

from __future__ import annotations

import functools

import numpy as np
from google.protobuf.message import DecodeError

from ingest.validation import (
    DEFAULT_LIMITS,
    DlqReason,
    FrameLimits,
    Rejection,
    check_frame,
    check_key,
    check_record_size,
)
from ingest.windowing import StreamFrame, Window
from mochat.skeleton import get_layout
from protos.convert import array_to_proto
from protos.mochat.v1 import frames_pb2

_LE_F32 = np.dtype("<f4")


def encode_frame(stream_id: str, frame_index: int, joints: np.ndarray, *, layout: str,
                 capture_time_us: int, fps: float) -> bytes:
    """One (J, 3) pose -> serialized `mochat.v1.Frame` (what capture systems produce)."""
    msg = frames_pb2.Frame(stream_id=stream_id, frame_index=frame_index,
                           capture_time_us=capture_time_us, layout=layout, fps=fps)
    array_to_proto(joints, msg.joints)
    return msg.SerializeToString()


def decode_record(value: bytes | None, key: bytes | None, *, header_bytes: int = 0,
                  offset: int = -1, limits: FrameLimits = DEFAULT_LIMITS
                  ) -> StreamFrame | Rejection:
    """A frames-topic record -> a checked frame, or why it belongs in the dead-letter topic:
    sizes first (an oversized record is never decoded), then the frame, then its key."""
    rejection = check_record_size(value, key, header_bytes, limits)
    if rejection is not None:
        return rejection
    frame = decode_frame(value, offset, limits=limits)
    if isinstance(frame, Rejection):
        return frame
    return check_key(key, frame.stream_id) or frame


def decode_frame(payload: bytes | None, offset: int = -1, *,
                 limits: FrameLimits = DEFAULT_LIMITS) -> StreamFrame | Rejection:
    """Record value -> a checked frame, or the reason it belongs in the dead-letter topic.

    The hot path of the ingest worker (once per frame), so the array is read directly
    rather than through protos.convert; the checks are the same. A shape is checked against
    the byte count in Python ints, so no crafted shape overflows.
    """
    if not payload:
        return Rejection(DlqReason.UNDECODABLE, "empty record value")
    try:
        msg = frames_pb2.Frame.FromString(payload)
    except DecodeError as err:
        return Rejection(DlqReason.UNDECODABLE, f"not a mochat.v1.Frame: {err}")
    shape = tuple(msg.joints.shape)
    data = msg.joints.data
    if len(shape) != 2 or len(data) != 4 * shape[0] * shape[1]:
        return Rejection(DlqReason.BAD_SHAPE, f"joints: shape {shape[:4]} with {len(data)} "
                         "bytes is not a (J, 3) float32 array")
    joints = np.frombuffer(data, dtype=_LE_F32).reshape(shape)  # (J, 3)
    rejection = check_frame(msg.stream_id, msg.frame_index, msg.layout, joints, fps=msg.fps,
                            limits=limits)
    if rejection is not None:
        return rejection
    layout = _canonical_layout(msg.layout)  # aliases share one stream layout
    return StreamFrame(msg.stream_id, msg.frame_index, joints, layout=layout,
                       capture_time_us=msg.capture_time_us, fps=msg.fps, offset=offset)


@functools.lru_cache(maxsize=64)
def _canonical_layout(name: str) -> str:
    return get_layout(name).name  # known to exist: check_frame looked it up


def window_to_proto(window: Window) -> frames_pb2.MotionWindow:
    msg = frames_pb2.MotionWindow(
        stream_id=window.stream_id, window_id=window.window_id,
        first_frame=window.first_frame, last_frame=window.last_frame, fps=window.fps,
        layout=window.layout, first_capture_time_us=window.first_capture_time_us,
        last_capture_time_us=window.last_capture_time_us,
        interpolated_frames=window.interpolated_frames)
    array_to_proto(window.joints, msg.joints)  # (T, J, 3)
    return msg
