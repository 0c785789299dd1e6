"""numpy <-> protobuf for the arrays of `mochat.v1` (no torch, no grpc).

`Float32Array` carries a shape and raw little-endian float32 bytes; decoding checks that the
byte count matches the shape and, where asked, that the shape matches what the caller
expects. Malformed arrays raise `DataFormatError`, joints that do not fit their layout raise
`InvalidSkeletonError`; both are `ValueError`s and services map them to INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mochat.errors import DataFormatError, UnknownLayoutError
from mochat.log import clip
from mochat.skeleton import SkeletonLayout, get_layout, validate_joints
from mochat.skeleton.layout import LAYOUT_FILE_SUFFIXES
from mochat.skeleton.resample import resampled_length
from protos.mochat.v1 import frames_pb2

_LE_F32 = np.dtype("<f4")
# Far above any array the services take (their request byte limits bind first): a bound on
# what a shape may claim before any arithmetic on it, not a tuning knob.
MAX_ARRAY_ELEMENTS = 1 << 28
MAX_ARRAY_RANK = 8
MAX_LAYOUT_NAME_CHARS = 128  # layout names are identifiers ('smpl22', 'azure32')


def array_to_proto(array: np.ndarray, out: frames_pb2.Float32Array | None = None
                   ) -> frames_pb2.Float32Array:
    """Any numeric array -> Float32Array (C order, little-endian float32).

    Fills `out` in place when given (for submessages: `array_to_proto(x, msg.joints)`).
    """
    arr = np.ascontiguousarray(array, dtype=_LE_F32)
    msg = frames_pb2.Float32Array() if out is None else out
    msg.Clear()
    msg.shape.extend(arr.shape)
    msg.data = arr.tobytes()
    return msg


def array_from_proto(msg: frames_pb2.Float32Array,
                     expect_shape: Sequence[int | None] | None = None, *,
                     source: str = "array",
                     max_elements: int = MAX_ARRAY_ELEMENTS) -> np.ndarray:
    """Float32Array -> float32 ndarray (a read-only view of the message bytes).

    `expect_shape` gives the rank and the fixed sizes, None for a free axis, e.g.
    `(None, 22, 3)` for SMPL-22 joints. Raises DataFormatError naming `source` (also for a
    shape whose element count is over `max_elements`: see `checked_shape`).
    """
    shape = checked_shape(msg.shape, max_elements=max_elements, source=source)
    expected_bytes = _LE_F32.itemsize * math.prod(shape)
    if len(msg.data) != expected_bytes:
        raise DataFormatError(f"{source}: shape {shape} needs {expected_bytes} bytes of float32, "
                              f"got {len(msg.data)}")
    if expect_shape is not None:
        ok = len(shape) == len(expect_shape) and all(
            want is None or want == got for want, got in zip(expect_shape, shape, strict=False))
        if not ok:
            want = tuple("*" if n is None else n for n in expect_shape)
            raise DataFormatError(f"{source}: expected shape {want}, got {shape}")
    arr = np.frombuffer(msg.data, dtype=_LE_F32).reshape(shape)
    return arr.astype(np.float32, copy=False)  # native order; a no-op on little-endian hosts


def checked_shape(dims: Sequence[int], *, max_elements: int = MAX_ARRAY_ELEMENTS,
                  source: str = "array") -> tuple[int, ...]:
    """A shape off the wire, checked before anything multiplies it: at most MAX_ARRAY_RANK
    axes, none negative, and a product (Python ints, so it cannot wrap around the way an
    int64 one does: 65536**4 is 0 in int64) of at most `max_elements`. DataFormatError."""
    if len(dims) > MAX_ARRAY_RANK:
        raise DataFormatError(f"{source}: {len(dims)} axes, over the limit of {MAX_ARRAY_RANK}")
    shape = tuple(int(n) for n in dims)
    if any(n < 0 for n in shape):
        raise DataFormatError(f"{source}: negative size in shape {shape}")
    count = 1
    for n in shape:  # stop at the first axis that passes the limit: no giant products
        count *= n
        if count > max_elements:
            raise DataFormatError(f"{source}: shape {shape} holds more than {max_elements} "
                                  "elements")
    return shape


def wire_layout(name: str, *, max_chars: int = MAX_LAYOUT_NAME_CHARS) -> SkeletonLayout:
    """The registered layout a message names. Layouts travel by name only: a name that is a
    layout-file path is refused (UnknownLayoutError), so no message makes a service read a
    file; a service loads its users' layout files at start (its layout_files setting). A
    name over `max_chars` is refused before any lookup (and is never quoted whole)."""
    if len(name) > max_chars:
        raise UnknownLayoutError(f"layout name {clip(name, 40)!r} has {len(name)} characters, "
                                 f"over the limit of {max_chars}")
    if name.lower().endswith(LAYOUT_FILE_SUFFIXES):
        raise UnknownLayoutError(f"layout {clip(name)!r} is a file name; messages name a "
                                 "registered layout (a service registers layout files at "
                                 "start)")
    return get_layout(name)


def joints_from_proto(msg: frames_pb2.Float32Array, layout: SkeletonLayout | str, *,
                      max_frames: int | None = None, source: str = "joints") -> np.ndarray:
    """Float32Array (T, J, 3) -> validated float32 (T, J, 3) joints of `layout`.

    Raises UnknownLayoutError for an unregistered layout name, DataFormatError for bytes that
    do not match the shape, InvalidSkeletonError for a wrong joint count, too many frames,
    no frames or NaN/inf.
    """
    lay = wire_layout(layout) if isinstance(layout, str) else layout
    shape = tuple(msg.shape)
    if len(shape) != 3 or shape[2] != 3:
        raise DataFormatError(f"{source}: expected shape (T, {lay.num_joints}, 3), got {shape}")
    arr = array_from_proto(msg, source=source)
    return validate_joints(arr, lay, max_frames=max_frames, source=source)


def frame_joints(frame: frames_pb2.Frame) -> np.ndarray:
    """One Frame's (J, 3) joints, validated against its layout."""
    src = f"frame {clip(frame.stream_id)}:{frame.frame_index}"
    lay = wire_layout(frame.layout)
    arr = array_from_proto(frame.joints, (lay.num_joints, 3), source=src)
    return validate_joints(arr[None], lay, max_frames=None, source=src)[0]


def feature_rows(msg: frames_pb2.MotionFeatures) -> int:
    """Rows a MotionFeatures must hold: one per frame, or the window resampled to
    feature_fps (`mochat.skeleton.resample.resampled_length`)."""
    num_frames = msg.last_frame - msg.first_frame + 1
    if not msg.feature_fps or msg.feature_fps == msg.fps or num_frames < 1 or msg.fps <= 0:
        return num_frames
    return resampled_length(num_frames, msg.fps, msg.feature_fps)


def features_from_proto(msg: frames_pb2.MotionFeatures) -> np.ndarray:
    """MotionFeatures -> (T', D) float32, T' checked against the window's frames and rates."""
    return array_from_proto(msg.features, (feature_rows(msg), None),
                            source=f"features {clip(msg.window_id)}")
