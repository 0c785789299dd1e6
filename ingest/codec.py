"""Kafka record bytes <-> the windower's types: `mochat.v1.Frame` or `FrameBatch` in,
`MotionWindow` out.

A frames-topic record's `mochat-type` header names its message: `frame-batch` a FrameBatch,
`frame` or no header a Frame (frames.proto). A batch is decoded and checked as one block:
one parse, numpy checks over its (N, J, 3) joints, and the frames that fail a per-frame check
named by frame number, while the rest is kept.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from ingest.validation import (
    DEFAULT_LIMITS,
    DlqReason,
    FrameLimits,
    Rejection,
    check_frame,
    check_frames,
    check_key,
    check_record_size,
)
from ingest.windowing import FrameBlock, StreamFrame, Window
from mochat.log import clip
from mochat.skeleton import get_layout
from protos.convert import array_to_proto
from protos.mochat.v1 import frames_pb2

_LE_F32 = np.dtype("<f4")
_INT64 = (-(2**63), 2**63 - 1)

TYPE_HEADER = "mochat-type"  # Kafka record header naming a frames-topic record's message
FRAME_TYPE = b"frame"  # the default when the header is absent
FRAME_BATCH_TYPE = b"frame-batch"
FRAME_BATCH_HEADERS = [(TYPE_HEADER, FRAME_BATCH_TYPE)]


@dataclass(frozen=True)
class DecodedBatch:
    """A decoded FrameBatch: all its frames, and those that failed a per-frame check."""

    block: FrameBlock  # every frame of the batch
    rejected: list[tuple[int, Rejection]]  # (frame number, why), ascending

    def runs(self) -> list[FrameBlock]:
        """The frames that passed, as blocks of consecutive frame numbers."""
        if not self.rejected:
            return [self.block]
        out, start, first = [], 0, self.block.first_frame
        for index, _ in self.rejected:
            if index - first > start:
                out.append(self.block.slice(start, index - first))
            start = index - first + 1
        if start < self.block.num_frames:
            out.append(self.block.slice(start, self.block.num_frames))
        return out


def record_headers(headers: Iterable[tuple[str, bytes | None]] | None
                   ) -> tuple[int, bytes | None]:
    """(total header bytes, the `mochat-type` value or None) of a record's headers."""
    size, kind = 0, None
    for key, value in headers or ():
        size += len(key) + len(value or b"")
        if key == TYPE_HEADER:
            kind = value or b""
    return size, kind


def encode_frame(stream_id: str, frame_index: int, joints: np.ndarray, *, layout: str,
                 capture_time_us: int, fps: float) -> bytes:
    """One (J, 3) pose -> serialized `mochat.v1.Frame` (what capture systems produce)."""
    msg = frames_pb2.Frame(stream_id=stream_id, frame_index=frame_index,
                           capture_time_us=capture_time_us, layout=layout, fps=fps)
    array_to_proto(joints, msg.joints)
    return msg.SerializeToString()


def encode_frame_batch(stream_id: str, first_frame_index: int, joints: np.ndarray, *,
                       layout: str, capture_times_us: Sequence[int] | np.ndarray,
                       fps: float) -> bytes:
    """N consecutive (J, 3) poses, joints (N, J, 3), and their N capture times ->
    serialized `mochat.v1.FrameBatch` (send it with FRAME_BATCH_HEADERS)."""
    times = [int(t) for t in capture_times_us]
    if len(times) != len(joints):
        raise ValueError(f"{len(joints)} frames need as many capture times, got {len(times)}")
    msg = frames_pb2.FrameBatch(stream_id=stream_id, first_frame_index=first_frame_index,
                                first_capture_time_us=times[0], layout=layout, fps=fps,
                                capture_offsets_us=[t - times[0] for t in times[1:]])
    array_to_proto(joints, msg.joints)
    return msg.SerializeToString()


def decode_record(value: bytes | None, key: bytes | None, *, header_bytes: int = 0,
                  offset: int = -1, limits: FrameLimits = DEFAULT_LIMITS,
                  record_type: bytes | None = None
                  ) -> StreamFrame | DecodedBatch | Rejection:
    """A frames-topic record -> a checked frame or batch, or why it belongs in the
    dead-letter topic: sizes first (an oversized record is never decoded), then the message
    its `mochat-type` header names (`record_type`; None = a Frame), then its key."""
    rejection = check_record_size(value, key, header_bytes, limits)
    if rejection is not None:
        return rejection
    decoded: StreamFrame | DecodedBatch | Rejection
    if record_type is None or record_type == FRAME_TYPE:
        decoded = decode_frame(value, offset, limits=limits)
        stream_id = "" if isinstance(decoded, Rejection) else decoded.stream_id
    elif record_type == FRAME_BATCH_TYPE:
        decoded = decode_frame_batch(value, offset, limits=limits)
        stream_id = "" if isinstance(decoded, Rejection) else decoded.block.stream_id
    else:
        shown = clip(record_type.decode("utf-8", "replace"), 64)
        return Rejection(DlqReason.UNDECODABLE, f"record header {TYPE_HEADER}={shown!r}; "
                         f"expected {FRAME_TYPE.decode()!r} or {FRAME_BATCH_TYPE.decode()!r}")
    if isinstance(decoded, Rejection):
        return decoded
    return check_key(key, stream_id) or decoded


def _parse(message: Any, payload: bytes | None, rank: int,
           what: str) -> tuple[Any, np.ndarray] | Rejection:
    """A Frame or FrameBatch record value -> (message, its joints array of `rank`
    dimensions, `what` in words), or the reason it is a dead letter. The shape is checked
    against the byte count in Python ints, so no crafted shape overflows.
    """
    if not payload:
        return Rejection(DlqReason.UNDECODABLE, "empty record value")
    try:
        msg = message.FromString(payload)
    except DecodeError as err:
        return Rejection(DlqReason.UNDECODABLE,
                         f"not a {message.DESCRIPTOR.full_name}: {err}")
    shape = tuple(msg.joints.shape)
    data = msg.joints.data
    if len(shape) != rank or len(data) != 4 * math.prod(shape):
        return Rejection(DlqReason.BAD_SHAPE, f"joints: shape {shape[:4]} with {len(data)} "
                         f"bytes is not {what} float32 array")
    return msg, np.frombuffer(data, dtype=_LE_F32).reshape(shape)


def decode_frame(payload: bytes | None, offset: int = -1, *,
                 limits: FrameLimits = DEFAULT_LIMITS) -> StreamFrame | Rejection:
    """Record value -> a checked frame, or the reason it belongs in the dead-letter topic.

    The hot path of the ingest worker (once per frame), so the array is read directly
    rather than through protos.convert; the checks are the same.
    """
    parsed = _parse(frames_pb2.Frame, payload, 2, "a (J, 3)")
    if isinstance(parsed, Rejection):
        return parsed
    msg, joints = parsed  # joints (J, 3)
    rejection = check_frame(msg.stream_id, msg.frame_index, msg.layout, joints, fps=msg.fps,
                            limits=limits)
    if rejection is not None:
        return rejection
    layout = _canonical_layout(msg.layout)  # aliases share one stream layout
    return StreamFrame(msg.stream_id, msg.frame_index, joints, layout=layout,
                       capture_time_us=msg.capture_time_us, fps=msg.fps, offset=offset)


def decode_frame_batch(payload: bytes | None, offset: int = -1, *,
                       limits: FrameLimits = DEFAULT_LIMITS) -> DecodedBatch | Rejection:
    """Record value -> a checked batch (its frames, the failed ones named), or the reason
    the whole record belongs in the dead-letter topic.

    One parse and one block of checks (`check_frames`) per record, not per frame.
    """
    parsed = _parse(frames_pb2.FrameBatch, payload, 3, "an (N, J, 3)")
    if isinstance(parsed, Rejection):
        return parsed
    msg, joints = parsed  # joints (N, J, 3)
    shape = joints.shape
    first = msg.first_frame_index
    checked = check_frames(msg.stream_id, first, msg.layout, joints, fps=msg.fps,
                           limits=limits)
    if isinstance(checked, Rejection):
        return checked
    n, deltas = shape[0], msg.capture_offsets_us
    if len(deltas) != n - 1:
        return Rejection(DlqReason.BAD_SHAPE, f"capture_offsets_us has {len(deltas)} values "
                         f"for {n} frames; a batch of N frames has N - 1")
    times = np.empty(n, np.int64)  # (N,)
    times[0] = t0 = msg.first_capture_time_us
    if n > 1:
        times[1:] = np.fromiter(deltas, np.int64, n - 1)
        if not _INT64[0] <= t0 + int(times[1:].min()) <= t0 + int(times[1:].max()) <= _INT64[1]:
            return Rejection(DlqReason.UNDECODABLE, "capture times (first + offsets) "
                             "overflow int64")
        times[1:] += t0
    block = FrameBlock(msg.stream_id, first, joints, times,
                       layout=_canonical_layout(msg.layout), fps=msg.fps, offset=offset)
    return DecodedBatch(block, [(first + k, why) for k, why in checked])


def frame_payload(block: FrameBlock, frame_index: int) -> bytes | None:
    """One frame of a block as a serialized `mochat.v1.Frame` (a batch's dead letter); None
    for a frame number no Frame can carry (over int64)."""
    if not _INT64[0] <= frame_index <= _INT64[1]:
        return None
    k = frame_index - block.first_frame
    return encode_frame(block.stream_id, frame_index, block.joints[k], layout=block.layout,
                        capture_time_us=int(block.capture_times_us[k]), fps=block.fps)


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
